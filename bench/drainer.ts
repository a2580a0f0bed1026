// Keeps a session's event log drained, as a real client's data channel would, while
// costing the load generator little: it polls again at once while it gets full batches
// and otherwise waits a few milliseconds, so it reads many events per poll. The wait must
// stay short beside the log's bound: at 25,000 events a second, 50 ms of it are 1,250
// events, past the default 1,000, and the session would end with an overflow.
import type { CwaClient } from './client.js';
import { sleep } from './stats.js';

const FULL_BATCH = 200; // the gateway's MAX_EVENTS_PER_POLL

export class Drainer {
  /** Occurrences of `<${element}` seen so far. */
  seen = 0;
  private running = true;
  private readonly done: Promise<void>;
  error: Error | undefined;

  constructor(
    private readonly client: CwaClient,
    private readonly element: string,
    private readonly idleMs = 5,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    const needle = `<${this.element}`;
    while (this.running) {
      let text: string;
      try {
        text = await this.client.poll();
      } catch (err) {
        if (this.running) this.error = err as Error;
        return;
      }
      let events = 0;
      for (let at = text.indexOf('eid="'); at >= 0; at = text.indexOf('eid="', at + 5)) events++;
      for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) this.seen++;
      if (text.includes('sessionTerminated')) this.error = new Error(`session ${this.client.sid} ended: ${text.slice(-400)}`);
      if (events < FULL_BATCH) await sleep(this.idleMs);
    }
  }

  /** Stops after the current poll (a held poll is cut when the server goes away). */
  stop(): void {
    this.running = false;
  }

  /** Waits for the loop to finish; only call once the poll in flight can complete. */
  finished(): Promise<void> {
    return this.done;
  }
}
