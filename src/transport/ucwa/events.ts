// The event channel (§4): GET <application>/events?ack=N[&timeout=S]. Each response is
// numbered: `self` is ?ack=N, `next` ?ack=N+1, and following `next` acknowledges the
// events of response N (the session's event log drops them). A re-GET of the last
// response's ack replays it; any other ack gets a `resync` link to the first response not
// acknowledged. A response is held until an event is queued or the timeout passes
// (at most --hold-ms); a newer P-GET of the application releases a parked one with 409
// PGetReplaced. Which events a response carried is recorded by a command
// (`eventsAnswered`), so any node of a cluster answers the next P-GET the same way.
import type { Request, Response } from 'express';
import { applicationGone } from '../../protocol/ucwa/operations.js';
import { readRecord } from '../../protocol/ucwa/records.js';
import { eventsPageJson, eventsPageXml, type EventsPage, type RenderedEvent } from '../../protocol/ucwa/resource.js';
import { Hrefs, type UcwaApp } from '../../protocol/ucwa/state.js';
import type { TransportContext } from '../http/context.js';
import { sendRendered, sendUcwaError } from './http.js';

/** The parked P-GET of each application: a newer one replaces it. */
export class ParkedEventRequests {
  private readonly bySid = new Map<number, { replaced: boolean }>();

  park(sid: number): { replaced: boolean } {
    const older = this.bySid.get(sid);
    if (older) older.replaced = true;
    const mine = { replaced: false };
    this.bySid.set(sid, mine);
    return mine;
  }

  done(sid: number, mine: { replaced: boolean }): void {
    if (this.bySid.get(sid) === mine) this.bySid.delete(sid);
  }
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
  const timeoutRaw = param('timeout');
  const timeoutS = timeoutRaw === undefined || !/^\d+$/.test(timeoutRaw) ? DEFAULT_TIMEOUT_S : Math.min(MAX_TIMEOUT_S, Math.max(1, Number(timeoutRaw)));
  const holdMs = Math.min(timeoutS * 1000, ctx.holdMs);
  const { channel } = app;
  const answer = (page: EventsPage) => sendRendered(req, res, 200, () => eventsPageJson(page), () => eventsPageXml(page));
  const gone = () => {
    const g = applicationGone(app);
    sendUcwaError(req, res, g.status, g.error);
  };

  const replay = channel.answered !== undefined && ack === channel.answered.n;
  if (!Number.isInteger(ack) || (!replay && ack !== channel.next)) {
    // Out of range: only a resync link, to the first response not yet acknowledged.
    const k = channel.answered?.n ?? channel.next;
    return answer({ self: h.events(Number.isInteger(ack) ? ack : 0), resync: h.events(k), events: [] });
  }
  const from = replay ? channel.answered!.from : (channel.answered?.upTo ?? 0);
  const upToLimit = replay ? channel.answered!.upTo : Number.POSITIVE_INFINITY;

  const mine = parked.park(app.sid);
  const release = ctx.ops.polls.claim(app.sid);
  try {
    let waited = false;
    for (;;) {
      const read = await ctx.log.read(app.sid, from, ctx.maxEventsPerPoll);
      if (mine.replaced) {
        return sendUcwaError(req, res, 409, { code: 'Conflict', subcode: 'PGetReplaced', message: 'A newer event-channel request of this application replaced this one.' });
      }
      if (read.status !== 'ok') return gone();
      const events: RenderedEvent[] = [];
      let last = from;
      let ended = false;
      for (const e of read.events) {
        if (e.eid > upToLimit) break;
        const r = readRecord(e.xml);
        if ('terminal' in r) {
          ended = true;
          break;
        }
        events.push(r);
        last = e.eid;
      }
      if (events.length === 0 && ended) return gone();
      if (events.length === 0 && read.closed && !replay) return gone();
      if (events.length > 0 || replay || waited || holdMs <= 0 || release.aborted || ctx.ops.shutdown.shuttingDown) {
        if (res.writableEnded || res.destroyed) return;
        const n = ack;
        if (!replay) {
          const recorded = await ctx.coordinator.runUcwa(login, { kind: 'eventsAnswered', app: app.sid, n, from, upTo: last });
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
