// Connects the engine's typed events to the event log: each event is rendered once
// (its body shared by every session it goes to) and appended per session in order.
import type { EventLog, EventRecord } from '../delivery/event-log.js';
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
    private readonly log: EventLog,
    /** The gateway's --xml-layout: one for all sessions, so an event is still rendered once. */
    private readonly layout: XmlLayout = 'compact',
  ) {}

  openSession(sid: number): Promise<void> {
    return this.log.open(sid);
  }

  async deliver(items: Delivery[]): Promise<number[]> {
    const bySid = new Map<number, ReturnType<typeof toRecord>[]>();
    const { ucwa } = this;
    for (const { sid, event } of items) {
      let list = bySid.get(sid);
      if (!list) bySid.set(sid, (list = []));
      if (ucwa && ucwa.dialectOf(sid) === 'ucwa') {
        // A UCWA application: the event as its conversation shows it (none, one or several UCWA events).
        const app = ucwa.state.apps.get(sid);
        if (app) for (const e of ucwa.translator.translate(app, event)) list.push(ucwaRecord(e));
      } else {
        list.push(toRecord(event, this.layout));
      }
    }
    const overflowed: number[] = [];
    for (const [sid, records] of bySid) {
      const outcome = await this.log.append(sid, records);
      if (!outcome.ok && outcome.reason === 'overflow') overflowed.push(sid);
    }
    return overflowed;
  }

  async backlog(sid: number): Promise<Backlog | undefined> {
    return this.log.backlog?.(sid);
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

const OVERFLOW_EVENT: CwaEvent = { kind: 'sessionTerminated', reason: 'eventLogOverflow' };

/** The terminal event a log writes when it overflows. */
export const OVERFLOW_RECORD = toRecord(OVERFLOW_EVENT);

/** The overflow event in a layout. */
export function overflowRecord(layout: XmlLayout): EventRecord {
  return layout === 'compact' ? OVERFLOW_RECORD : toRecord(OVERFLOW_EVENT, layout);
}
