// The event logs as a cluster node's transports see them. The logs themselves are part
// of the replicated state (every node appends the same events when it applies the same
// commands); what a reader does to them, acknowledging, is a change like any other and
// goes through the command stream, so every node drops the same events and bounds the
// same logs. Reading and waiting are local.
import type { AppendOutcome, EventLog, EventRecord, LogWatcher, ReadOutcome, WaitSignal } from '../delivery/event-log.js';

export interface PositionedLog extends EventLog {
  position(sid: number): { head: number; acked: number } | undefined;
}

export class ReplicatedEventLog implements EventLog {
  constructor(
    /** The node's current logs (they are replaced when the cluster starts over). */
    private readonly local: () => PositionedLog,
    /** Proposes acknowledgements ([sid, ackId] pairs) and resolves once this node has applied them. */
    private readonly ack: (acks: [number, number][]) => Promise<void>,
  ) {}

  /** Acknowledgements waiting to be proposed, and proposed but not yet applied: sid -> highest ackId. */
  private readonly waiting = new Map<number, number>();
  private readonly inFlight = new Map<number, number>();
  private flushing = false;

  async read(sid: number, ackId: number, max: number): Promise<ReadOutcome> {
    return this.readNow(sid, ackId, max);
  }

  /** Reading is local: at once (the acknowledgement it makes travels later, see below). */
  readNow(sid: number, ackId: number, max: number): ReadOutcome {
    const pos = this.local().position(sid);
    const known = Math.max(this.waiting.get(sid) ?? 0, this.inFlight.get(sid) ?? 0);
    // Behind an acknowledgement this node is still applying: stale, as it will be in a moment.
    if (pos && ackId < known) return { status: 'stale', acked: known, head: pos.head };
    // A cursor ahead of the head acknowledges the head, as on one gateway: the head this
    // node holds now (the caller caught up first), not whatever it is when the command
    // applies — events queued meanwhile were never seen by this client.
    const upTo = pos ? Math.min(ackId, pos.head) : 0;
    if (pos && upTo > pos.acked && upTo > known) {
      // Dropping acknowledged events changes nothing the reader sees (it reads after ackId),
      // so the read does not wait for it. The acknowledgements of one turn of the event loop
      // travel in one command.
      this.waiting.set(sid, upTo);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    }
    return this.local().peekNow(sid, ackId, max);
  }

  private flush(): void {
    this.flushing = false;
    const acks = [...this.waiting];
    this.waiting.clear();
    for (const [sid, ackId] of acks) this.inFlight.set(sid, ackId);
    this.ack(acks)
      .catch(() => undefined) // Redis away: the client's next read acknowledges again
      .finally(() => {
        for (const [sid, ackId] of acks) if (this.inFlight.get(sid) === ackId) this.inFlight.delete(sid);
      });
  }

  position(sid: number): { head: number; acked: number } | undefined {
    return this.local().position(sid);
  }

  peek(sid: number, afterEid: number, max: number): Promise<ReadOutcome> {
    return this.local().peek(sid, afterEid, max);
  }

  peekNow(sid: number, afterEid: number, max: number): ReadOutcome {
    return this.local().peekNow(sid, afterEid, max);
  }

  wait(sid: number, afterEid: number, timeoutMs: number, signal?: WaitSignal): Promise<boolean> {
    return this.local().wait(sid, afterEid, timeoutMs, signal);
  }

  watch(sid: number, afterEid: number, watcher: LogWatcher): boolean {
    return this.local().watch(sid, afterEid, watcher);
  }

  unwatch(sid: number, watcher: LogWatcher): void {
    this.local().unwatch(sid, watcher);
  }

  size(): number {
    return this.local().size();
  }

  /** The innermost log of the current replica (metrics and tests look at it). */
  get underlying(): EventLog {
    const local = this.local() as PositionedLog & { underlying?: EventLog };
    return local.underlying ?? local;
  }

  // Appending, closing and removing happen only when commands are applied (the engine
  // writes to the local logs itself); a transport calling them would fork this node.
  open(_sid: number): Promise<void> {
    return Promise.reject(new Error('ReplicatedEventLog: logs are opened by applied commands only'));
  }

  append(_sid: number, _records: EventRecord[]): Promise<AppendOutcome> {
    return Promise.reject(new Error('ReplicatedEventLog: events are appended by applied commands only'));
  }

  close(_sid: number, _terminal?: EventRecord): Promise<void> {
    return Promise.reject(new Error('ReplicatedEventLog: logs are closed by applied commands only'));
  }

  remove(_sid: number): Promise<void> {
    return Promise.reject(new Error('ReplicatedEventLog: logs are removed by applied commands only'));
  }
}
