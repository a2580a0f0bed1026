// Finding the session a poll or WebSocket names. A cluster node may be a moment behind
// the command stream: the session may have begun, or the events the client acknowledges
// been queued, on another node just now. When the session is unknown here, or the cursor
// is ahead of what this node holds, or the caller wants an answer that reflects every
// change made before it (a poll that is not held), the node first catches up (`sync`).
// Otherwise a held poll simply waits: the events arrive as the node applies them.
import type { Session } from '../engine/session.js';
import type { TransportContext } from './http/context.js';

export interface SessionLookup {
  /** The live session, when `login` owns it. */
  session?: Session;
  /** True when the session has ended but its log is still readable by `login`. */
  endedLog: boolean;
}

/** At once when the node need not catch up (always on a single gateway), else once it has. */
export function findSession(ctx: TransportContext, login: string, sid: number, cursor: { ackId: number; fresh: boolean }): SessionLookup | Promise<SessionLookup> {
  const look = (): SessionLookup => {
    const session = ctx.engine.sessionFor(login, sid);
    // A UCWA application's log holds UCWA events: the CWA doors do not read it.
    if (ctx.engine.dialectOf(sid) === 'ucwa') return { endedLog: false };
    return session ? { session, endedLog: false } : { endedLog: ctx.engine.ownsEndedLog(login, sid) };
  };
  const here = look();
  const head = ctx.log.position?.(sid)?.head ?? 0;
  if ((here.session || here.endedLog) && !cursor.fresh && cursor.ackId <= head) return here;
  const synced = ctx.coordinator.sync();
  return synced ? synced.then(look) : look();
}
