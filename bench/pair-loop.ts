// The measuring loop shared by the end-to-end workloads (long-poll, WebSocket, UCWA): N
// conversing pairs, each sender keeping exactly one message in flight. A pair sends its next
// message when its receiver has got the previous one and its own send has been answered.
// After a warm-up, a window of `durationS` is measured: delivered messages, their latencies
// (receiver got it - sender started sending), and the CPU time of the gateway and of this
// process. A pair that delivered nothing in the window fails the run.
import type { ServerGroup } from './child.js';
import { mapLimit, percentile, sleep } from './stats.js';

export interface EndToEndRun {
  pairs: number;
  msgsPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  /** Gateway CPU time over the measured window, as % of one core. */
  serverCpu: number;
  /** The load generator's CPU time over the same window (same scale). */
  clientCpu: number;
}

/** One pair's place in the loop: the message in flight and what became of it. */
export interface PairState<P> {
  readonly pair: P;
  seq: number;
  sentAt: number;
  /** Messages delivered inside the measured window. */
  measured: number;
  /** The send of message `seq` has been answered. */
  posted: boolean;
  /** The receiver has got message `seq`. */
  received: boolean;
}

export interface PairTraffic<P> {
  /** Names the workload in errors ("end-to-end", "ucwa", …). */
  label: string;
  /** Finds message numbers in what a receiver got (group 1: the n of `m<n>`); global. */
  content: RegExp;
  /** Sends `text` from the pair's sender; settles when the gateway has answered (rejects on refusal). */
  send(pair: P, text: string): Promise<unknown>;
  /**
   * Starts receiving for the pair: `deliver` with everything its receiver gets, while `running()`.
   * Returns the loops it started (a rejection fails the run).
   */
  listen(pair: P, deliver: (text: string) => void, running: () => boolean): Promise<unknown>[];
  /** What to add to the error about pairs that delivered nothing (starts with its own separator). */
  describeStalled?(stalled: PairState<P>[]): string;
}

/**
 * Receiving by long-poll, as real clients do: the receiver's polls are delivered; the sender's
 * are only kept parked (its channel carries the events about its own messages).
 */
export function longPolls<P>(receiver: (pair: P) => Promise<string>, sender: (pair: P) => Promise<unknown>): PairTraffic<P>['listen'] {
  return (pair, deliver, running) => [
    (async () => {
      while (running()) deliver(await receiver(pair));
    })(),
    (async () => {
      while (running()) await sender(pair);
    })(),
  ];
}

/** `size` pairs of bench users from `firstUser` on (users u and u + 1), set up by `make`, 20 at a time. */
export function setUpPairs<P>(size: number, firstUser: number, make: (u: number) => Promise<P>): Promise<P[]> {
  const indexes = Array.from({ length: size }, (_, i) => firstUser + 2 * i);
  return mapLimit(indexes, 20, make);
}

/** Runs the pairs: warm-up, then the measured window; one result. The caller closes connections afterwards. */
export async function runPairs<P>(server: ServerGroup, pairs: P[], traffic: PairTraffic<P>, durationS: number, warmupS: number): Promise<EndToEndRun> {
  let running = true;
  let measuring = false;
  let delivered = 0;
  let failure: Error | undefined;
  const latencies: number[] = [];
  const fail = (err: unknown) => {
    if (running && !failure) failure = err as Error;
  };
  const isRunning = () => running;

  const send = (p: PairState<P>) => {
    p.seq += 1;
    p.posted = false;
    p.received = false;
    p.sentAt = performance.now();
    traffic
      .send(p.pair, `m${p.seq}`)
      .then(() => {
        p.posted = true;
        if (p.received && running) send(p);
      })
      .catch(fail);
  };
  const deliver = (p: PairState<P>) => (text: string) => {
    const now = performance.now();
    for (const m of text.matchAll(traffic.content)) {
      if (Number(m[1]) !== p.seq) continue;
      p.received = true;
      if (measuring) {
        delivered += 1;
        p.measured += 1;
        latencies.push(now - p.sentAt);
      }
    }
    if (p.received && p.posted && running) send(p);
  };

  const states: PairState<P>[] = pairs.map((pair) => ({ pair, seq: 0, sentAt: 0, measured: 0, posted: false, received: false }));
  try {
    for (const p of states) {
      for (const loop of traffic.listen(p.pair, deliver(p), isRunning)) loop.catch(fail);
      send(p);
    }
    await sleep(warmupS * 1000);
    const cpuStart = await server.cpuMicros();
    const clientStart = process.cpuUsage();
    const start = performance.now();
    measuring = true;
    await sleep(durationS * 1000);
    measuring = false;
    const elapsed = performance.now() - start;
    const clientUsage = process.cpuUsage(clientStart);
    const cpu = (await server.cpuMicros()) - cpuStart;
    running = false;
    if (failure) throw failure;
    const stalled = states.filter((p) => p.measured === 0);
    if (stalled.length > 0) {
      const detail = traffic.describeStalled?.(stalled) ?? '';
      throw new Error(`${traffic.label}, ${pairs.length} pairs: ${stalled.length} pair(s) delivered nothing in ${durationS} s${detail}`);
    }
    return {
      pairs: pairs.length,
      msgsPerSec: delivered / (elapsed / 1000),
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      serverCpu: (cpu / 1000 / elapsed) * 100,
      clientCpu: ((clientUsage.user + clientUsage.system) / 1000 / elapsed) * 100,
    };
  } finally {
    running = false;
  }
}
