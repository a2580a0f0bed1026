// Finding the session a poll or WebSocket names. A cluster node first catches up with
// the command stream (`sync`): the session may have begun, and the events the client
// acknowledges may have been queued, on another node a moment ago. Without that, a node
// a little behind would answer 404, or take a cursor for one ahead of the log's head.
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
  await ctx.coordinator.sync();
  return look();
}
