// The event channel (§4): GET <application>/events?ack=N[&timeout=S]. Each response is
// numbered: `self` is ?ack=N, `next` ?ack=N+1, and following `next` acknowledges the
// events of response N (the session's event log drops them). A re-GET of the last
// response's ack replays it; any other ack gets a `resync` link to the first response not
// acknowledged. A response is held until an event is queued or the timeout passes
// (at most --hold-ms); a newer P-GET of the application releases a parked one with 409
// PGetReplaced, unless its `priority` is lower than the parked one's (§4.1: a higher value
// replaces same-or-lower), in which case the newer one is answered 409 PGetReplaced at once.
// `timeout`, `medium` and `low` are sticky: remembered with the channel until sent again
// (`medium`/`low` are validated and kept; every event releases a P-GET at once, which is
// within any batching interval). Which events a response carried, and the sticky
// parameters, are recorded by a command (`eventsAnswered`), so any node of a cluster
// answers the next P-GET the same way. An application whose event log overflowed reads
// what the log kept, then 410 Gone (subcode Removed) naming the overflow.
import type { Request, Response } from 'express';
import { applicationGone } from '../../protocol/ucwa/operations.js';
import { ucwaRefusalOf } from '../../protocol/ucwa-outcomes.js';
import { readRecord } from '../../protocol/ucwa/records.js';
import { eventsPageJson, eventsPageXml, type EventsPage, type RenderedEvent } from '../../protocol/ucwa/resource.js';
import { Hrefs, type UcwaApp } from '../../protocol/ucwa/state.js';
import type { TransportContext } from '../http/context.js';
import { sendRendered, sendUcwaError } from './http.js';

interface Parked {
  replaced: boolean;
  priority: number;
}

/** The parked P-GET of each application: a newer one of the same or a higher priority replaces it. */
export class ParkedEventRequests {
  private readonly bySid = new Map<number, Parked>();

  /** Parks a P-GET; undefined when a parked one of a higher priority stays (the new one is the one replaced). */
  park(sid: number, priority = 0): Parked | undefined {
    const older = this.bySid.get(sid);
    if (older && older.priority > priority) return undefined;
    if (older) older.replaced = true;
    const mine = { replaced: false, priority };
    this.bySid.set(sid, mine);
    return mine;
  }

  done(sid: number, mine: Parked): void {
    if (this.bySid.get(sid) === mine) this.bySid.delete(sid);
  }
}

const PRIORITY = /^[+-]?\d{1,9}$/;
const BATCH_MIN_S = 5;

/** A sticky batching interval (`medium`, `low`): 5–1800 s; anything else is a 400. */
function intervalOf(raw: string | undefined, name: string): number | undefined | Error {
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw)) return new Error(`${name} must be a number of seconds (${BATCH_MIN_S}-${MAX_TIMEOUT_S}).`);
  return Math.min(MAX_TIMEOUT_S, Math.max(BATCH_MIN_S, Number(raw)));
}

const DEFAULT_TIMEOUT_S = 180;
const MAX_TIMEOUT_S = 1800;

export async function eventChannel(ctx: TransportContext, parked: ParkedEventRequests, req: Request, res: Response, login: string, app: UcwaApp, query: URLSearchParams): Promise<void> {
  const h = new Hrefs(app.sid);
  const param = (name: string) => {
    for (const [k, v] of query) if (k.toLowerCase() === name) return v;
    return undefined;
  };
  const ack = Number(param('ack'));
  const { channel } = app;
  const timeoutRaw = param('timeout');
  const given = timeoutRaw !== undefined && /^\d{1,9}$/.test(timeoutRaw) ? Math.min(MAX_TIMEOUT_S, Math.max(1, Number(timeoutRaw))) : undefined;
  const timeoutS = given ?? channel.sticky?.timeout ?? DEFAULT_TIMEOUT_S;
  const holdMs = Math.min(timeoutS * 1000, ctx.holdMs);
  const medium = intervalOf(param('medium'), 'medium');
  const low = intervalOf(param('low'), 'low');
  const priorityRaw = param('priority');
  for (const bad of [medium, low]) if (bad instanceof Error) return sendUcwaError(req, res, 400, { code: 'BadRequest', subcode: 'ParameterValidationFailure', message: bad.message });
  if (priorityRaw !== undefined && !PRIORITY.test(priorityRaw)) return sendUcwaError(req, res, 400, { code: 'BadRequest', subcode: 'ParameterValidationFailure', message: 'priority must be an integer.' });
  const sticky = {
    ...(given !== undefined ? { timeout: given } : {}),
    ...(typeof medium === 'number' ? { medium } : {}),
    ...(typeof low === 'number' ? { low } : {}),
  };
  const answer = (page: EventsPage) => sendRendered(req, res, 200, () => eventsPageJson(page), () => eventsPageXml(page));
  const gone = (terminal?: string) => {
    // The log overflowed: say so (the events it kept were delivered first); otherwise as the application ended.
    const g = terminal === 'eventLogOverflow' ? ucwaRefusalOf({ ended: 'eventLogOverflow' }) : applicationGone(app);
    sendUcwaError(req, res, g.status, g.error);
  };
  const replaced = () => sendUcwaError(req, res, 409, { code: 'Conflict', subcode: 'PGetReplaced', message: 'A newer event-channel request of this application replaced this one.' });

  const replay = channel.answered !== undefined && ack === channel.answered.n;
  if (!Number.isInteger(ack) || (!replay && ack !== channel.next)) {
    // Out of range: only a resync link, to the first response not yet acknowledged.
    const k = channel.answered?.n ?? channel.next;
    return answer({ self: h.events(Number.isInteger(ack) ? ack : 0), resync: h.events(k), events: [] });
  }
  const from = replay ? channel.answered!.from : (channel.answered?.upTo ?? 0);
  const upToLimit = replay ? channel.answered!.upTo : Number.POSITIVE_INFINITY;

  const mine = parked.park(app.sid, priorityRaw === undefined ? 0 : Number(priorityRaw));
  if (!mine) return replaced();
  const release = ctx.ops.polls.claim(app.sid);
  try {
    let waited = false;
    for (;;) {
      const read = await ctx.log.read(app.sid, from, ctx.maxEventsPerPoll);
      if (mine.replaced) return replaced();
      if (read.status !== 'ok') return gone();
      const events: RenderedEvent[] = [];
      let last = from;
      let ended: string | undefined;
      for (const e of read.events) {
        if (e.eid > upToLimit) break;
        const r = readRecord(e.xml);
        if ('terminal' in r) {
          ended = r.terminal;
          break;
        }
        events.push(r);
        last = e.eid;
      }
      if (events.length === 0 && ended !== undefined) return gone(ended);
      if (events.length === 0 && read.closed && !replay) return gone();
      if (events.length > 0 || replay || waited || holdMs <= 0 || release.aborted || ctx.ops.shutdown.shuttingDown) {
        if (res.writableEnded || res.destroyed) return;
        const n = ack;
        if (!replay) {
          const recorded = await ctx.coordinator.runUcwa(login, { kind: 'eventsAnswered', app: app.sid, n, from, upTo: last, ...(Object.keys(sticky).length > 0 ? { sticky } : {}) });
          if (!recorded.ok) return sendUcwaError(req, res, recorded.status, recorded.error);
        }
        return answer({ self: h.events(n), next: h.events(n + 1), events });
      }
      await ctx.ops.polls.hold(() => ctx.log.wait(app.sid, from, holdMs, release));
      waited = true;
      if (res.destroyed) return;
    }
  } finally {
    parked.done(app.sid, mine);
    ctx.ops.polls.done(app.sid, release);
  }
}
