// Finding the session a poll or WebSocket names. On a cluster node that is a little
// behind the others (the session began on another node a moment ago), a miss makes the
// node catch up before it answers 404.
import type { Session } from '../engine/session.js';
import type { TransportContext } from './http/context.js';

export interface SessionLookup {
  /** The live session, when `login` owns it. */
  session?: Session;
  /** True when the session has ended but its log is still readable by `login`. */
  endedLog: boolean;
}

export async function findSession(ctx: TransportContext, login: string, sid: number): Promise<SessionLookup> {
  const look = (): SessionLookup => {
    const session = ctx.engine.sessionFor(login, sid);
    return session ? { session, endedLog: false } : { endedLog: ctx.engine.ownsEndedLog(login, sid) };
  };
  const first = look();
  if (first.session || first.endedLog) return first;
  await ctx.coordinator.sync();
  return look();
}
