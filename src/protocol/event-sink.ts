// Connects the engine's typed events to the event log: each event is rendered once
// (its body shared by every session it goes to) and appended per session in order.
import type { EventLog, EventRecord, ImmediateLog } from '../delivery/event-log.js';
import type { Backlog, Delivery, EventSink } from '../engine/ports.js';
import type { CwaEvent } from '../engine/types.js';
import { toRecord } from './events.js';
import type { XmlLayout } from './layout.js';
import { ucwaRecord, ucwaTerminal } from './ucwa/records.js';
import type { UcwaState } from './ucwa/state.js';
import type { UcwaTranslator } from './ucwa/translate.js';

/** The UCWA side of the sink: which sessions are UCWA applications, and how their events read. */
export interface UcwaRendering {
  dialectOf(sid: number): 'cwa' | 'ucwa';
  state: UcwaState;
  translator: UcwaTranslator;
}

export class LogEventSink implements EventSink {
  /** Set once the engine exists (server.ts): sessions of dialect 'ucwa' get UCWA records. */
  ucwa?: UcwaRendering;

  constructor(
    /** The logs, in memory: a delivery is appended at once. */
    private readonly log: EventLog & ImmediateLog,
    /** The gateway's --xml-layout: one for all sessions, so an event is still rendered once. */
    private readonly layout: XmlLayout = 'compact',
  ) {}

  openSession(sid: number): Promise<void> {
    return this.log.open(sid);
  }

  deliver(items: Delivery[]): readonly number[] {
    const { ucwa } = this;
    // Most deliveries are one event, or a few for one session: the records of a run of
    // events for one session go in one append (atomic per session, in order).
    let overflowed: number[] | undefined;
    let bySid: Map<number, EventRecord[]> | undefined;
    for (let i = 0; i < items.length; i++) {
      const { sid, event } = items[i]!;
      let list = bySid?.get(sid);
      if (!list) {
        list = [];
        if (i === 0 && sameSession(items, sid)) {
          // Every event for one session (a message's confirmation, a session's start): no Map.
          this.render(sid, items, list, ucwa);
          if (this.appendTo(sid, list)) overflowed = [sid];
          return overflowed ?? NONE;
        }
        (bySid ??= new Map()).set(sid, list);
      }
      this.renderOne(sid, event, list, ucwa);
    }
    for (const [sid, records] of bySid!) if (this.appendTo(sid, records)) (overflowed ??= []).push(sid);
    return overflowed ?? NONE;
  }

  /** Appends a session's records; true when its log overflowed (and was closed). */
  private appendTo(sid: number, records: EventRecord[]): boolean {
    const outcome = this.log.appendNow(sid, records);
    return !outcome.ok && outcome.reason === 'overflow';
  }

  private render(sid: number, items: Delivery[], into: EventRecord[], ucwa: UcwaRendering | undefined): void {
    for (const { event } of items) this.renderOne(sid, event, into, ucwa);
  }

  private renderOne(sid: number, event: CwaEvent, into: EventRecord[], ucwa: UcwaRendering | undefined): void {
    if (ucwa && ucwa.dialectOf(sid) === 'ucwa') {
      // A UCWA application: the event as its conversation shows it (none, one or several UCWA events).
      const app = ucwa.state.apps.get(sid);
      if (app) for (const e of ucwa.translator.translate(app, event)) into.push(ucwaRecord(e));
    } else {
      into.push(toRecord(event, this.layout));
    }
  }

  backlog(sid: number): Backlog | undefined {
    return this.log.backlogNow(sid);
  }

  closeSession(sid: number, terminal: CwaEvent): Promise<void> {
    if (this.ucwa && this.ucwa.dialectOf(sid) === 'ucwa') {
      return this.log.close(sid, ucwaTerminal(terminal.kind === 'sessionTerminated' ? terminal.reason : 'ended'));
    }
    return this.log.close(sid, toRecord(terminal, this.layout));
  }

  removeSession(sid: number): Promise<void> {
    return this.log.remove(sid);
  }
}

/** No overflowed session (shared: callers only read it). */
const NONE: readonly number[] = [];

function sameSession(items: Delivery[], sid: number): boolean {
  for (let i = 1; i < items.length; i++) if (items[i]!.sid !== sid) return false;
  return true;
}

const OVERFLOW_EVENT: CwaEvent = { kind: 'sessionTerminated', reason: 'eventLogOverflow' };

/** The terminal event a log writes when it overflows. */
export const OVERFLOW_RECORD = toRecord(OVERFLOW_EVENT);

/** The overflow event in a layout. */
export function overflowRecord(layout: XmlLayout): EventRecord {
  return layout === 'compact' ? OVERFLOW_RECORD : toRecord(OVERFLOW_EVENT, layout);
}
