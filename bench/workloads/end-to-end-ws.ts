// Workload 2b, end-to-end latency over WebSocket: the same N conversing pairs as
// workload 2, but after signing in (over HTTP) every client attaches a WebSocket to
// its session and does everything on it: the sender sends each sendMessage as a
// command frame, the receiver gets the message as a pushed cwaEvents frame, and both
// acknowledge what they receive as the client library does (one ack frame per 10 ms).
// Each sender keeps exactly one message in flight. Latency is (the receiver's frame
// arrived) - (the sender sent its command frame).
import WebSocket from 'ws';
import { CwaClient, HttpTarget, connectPair } from '../client.js';
import type { ServerGroup } from '../child.js';
import { mapLimit, percentile, sleep } from '../stats.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';
import { eachSize, type EndToEndOptions, type EndToEndRun } from './end-to-end.js';

const CONTENT = /<content>m(\d+)<\/content>/g;
const ACK_ID = /^<cwaEvents[^>]*\sackId="(\d+)"/;
const ACK_DELAY_MS = 10;

/** One client's WebSocket: events and command answers, acks coalesced like the client library's. */
class Socket {
  private acked: number;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private answers: ((text: string) => void)[] = [];
  onEvents: (text: string) => void = () => undefined;

  private constructor(readonly ws: WebSocket, private cursor: number) {
    this.acked = cursor;
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('<cwaResponses')) {
        this.answers.shift()?.(text);
        return;
      }
      const m = ACK_ID.exec(text);
      if (!m) return;
      const ackId = Number(m[1]);
      if (ackId > this.cursor) {
        this.cursor = ackId;
        this.onEvents(text);
        this.scheduleAck();
      }
    });
  }

  static async open(port: number, c: CwaClient): Promise<Socket> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/cwa/AsyncDataChannel.ashx?Sid=${c.sid}&AckId=${c.ackId}`, {
      headers: { 'CWA-Ticket': c.ticket },
      perMessageDeflate: false,
    });
    const socket = new Socket(ws, c.ackId);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }

  command(batch: string): Promise<string> {
    return new Promise((resolve) => {
      this.answers.push(resolve);
      this.ws.send(batch);
    });
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.cursor > this.acked && this.ws.readyState === WebSocket.OPEN) {
        this.acked = this.cursor;
        this.ws.send(`<ack ackId="${this.cursor}"/>`);
      }
    }, ACK_DELAY_MS);
  }
}

class Pair {
  seq = 0;
  sentAt = 0;
  measured = 0;
  answered = false;
  received = false;

  constructor(
    readonly sender: CwaClient,
    readonly senderSocket: Socket,
    readonly receiverSocket: Socket,
    readonly confId: number,
  ) {}
}

/** One repetition: a fresh gateway, each size in turn; one result per size. */
export async function endToEndWebSocket(opts: EndToEndOptions): Promise<EndToEndRun[]> {
  return eachSize(opts, undefined, conversations);
}

async function conversations(server: ServerGroup, size: number, firstUser: number, durationS: number, warmupS: number): Promise<EndToEndRun> {
  const target = HttpTarget.keepAlive(server.port, 20);
  let running = true;
  let measuring = false;
  let delivered = 0;
  let failure: Error | undefined;
  const latencies: number[] = [];
  const sockets: Socket[] = [];
  const fail = (err: unknown) => {
    if (running && !failure) failure = err as Error;
  };
  try {
    const indexes = Array.from({ length: size }, (_, i) => firstUser + 2 * i);
    const pairs = await mapLimit(indexes, 20, async (u) => {
      const sender = new CwaClient(target, benchLogin(u), BENCH_PASSWORD);
      const receiver = new CwaClient(target, benchLogin(u + 1), BENCH_PASSWORD);
      for (const c of [sender, receiver]) {
        await c.logon();
        await c.initiateSession();
      }
      const { senderConf } = await connectPair(sender, receiver);
      const [s, r] = [await Socket.open(server.port, sender), await Socket.open(server.port, receiver)];
      sockets.push(s, r);
      return new Pair(sender, s, r, senderConf);
    });

    const send = (p: Pair) => {
      p.seq += 1;
      p.answered = false;
      p.received = false;
      p.sentAt = performance.now();
      p.senderSocket
        .command(p.sender.batch(p.sender.sendMessageBody(p.confId, p.sender.nextRid(), `m${p.seq}`)))
        .then((answer) => {
          if (!answer.includes('<requestAccepted')) throw new Error(`sendMessage refused: ${answer.slice(0, 200)}`);
          p.answered = true;
          if (p.received && running) send(p);
        })
        .catch(fail);
    };
    for (const p of pairs) {
      p.receiverSocket.onEvents = (text) => {
        const now = performance.now();
        for (const m of text.matchAll(CONTENT)) {
          if (Number(m[1]) !== p.seq) continue;
          p.received = true;
          if (measuring) {
            delivered += 1;
            p.measured += 1;
            latencies.push(now - p.sentAt);
          }
        }
        if (p.received && p.answered && running) send(p);
      };
    }
    for (const p of pairs) send(p);
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
    const stalled = pairs.filter((p) => p.measured === 0);
    if (stalled.length > 0) throw new Error(`end-to-end over WebSocket, ${size} pairs: ${stalled.length} pair(s) delivered nothing in ${durationS} s`);
    return {
      pairs: size,
      msgsPerSec: delivered / (elapsed / 1000),
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      serverCpu: (cpu / 1000 / elapsed) * 100,
      clientCpu: ((clientUsage.user + clientUsage.system) / 1000 / elapsed) * 100,
    };
  } finally {
    running = false;
    for (const s of sockets) s.ws.terminate();
    target.agent.destroy();
  }
}
