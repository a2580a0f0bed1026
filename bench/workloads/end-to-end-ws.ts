// Workload 2b, end-to-end latency over WebSocket: the same N conversing pairs as
// workload 2, but after signing in (over HTTP) every client attaches a WebSocket to
// its session and does everything on it: the sender sends each sendMessage as a
// command frame, the receiver gets the message as a pushed cwaEvents frame, and both
// acknowledge what they receive as the client library does (one ack frame per 10 ms).
// Each sender keeps exactly one message in flight. Latency is (the receiver's frame
// arrived) - (the sender sent its command frame).
import WebSocket from 'ws';
import { type CwaClient, HttpTarget } from '../client.js';
import type { ServerGroup } from '../child.js';
import { runPairs, setUpPairs } from '../pair-loop.js';
import { eachSize, signedInPair, type EndToEndOptions, type EndToEndRun } from './end-to-end.js';

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

interface Pair {
  sender: CwaClient;
  senderSocket: Socket;
  receiverSocket: Socket;
  confId: number;
}

/** One repetition: a fresh gateway, each size in turn; one result per size. */
export async function endToEndWebSocket(opts: EndToEndOptions): Promise<EndToEndRun[]> {
  return eachSize(opts, undefined, conversations);
}

async function conversations(server: ServerGroup, size: number, firstUser: number, durationS: number, warmupS: number): Promise<EndToEndRun> {
  const target = HttpTarget.keepAlive(server.port, 20);
  const sockets: Socket[] = [];
  try {
    const pairs = await setUpPairs(size, firstUser, async (u): Promise<Pair> => {
      const { sender, receiver, senderConf } = await signedInPair(target, u);
      const [s, r] = [await Socket.open(server.port, sender), await Socket.open(server.port, receiver)];
      sockets.push(s, r);
      return { sender, senderSocket: s, receiverSocket: r, confId: senderConf };
    });
    return await runPairs(server, pairs, {
      label: 'end-to-end over WebSocket',
      content: CONTENT,
      send: async (p, text) => {
        const answer = await p.senderSocket.command(p.sender.batch(p.sender.sendMessageBody(p.confId, p.sender.nextRid(), text)));
        if (!answer.includes('<requestAccepted')) throw new Error(`sendMessage refused: ${answer.slice(0, 200)}`);
      },
      listen: (p, deliver) => {
        p.receiverSocket.onEvents = deliver;
        return [];
      },
    }, durationS, warmupS);
  } finally {
    for (const s of sockets) s.ws.terminate();
    target.agent.destroy();
  }
}
