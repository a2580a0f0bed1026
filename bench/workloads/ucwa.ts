// Workload 5, UCWA instant messaging end to end: N pairs of UCWA applications (JSON), each
// in a connected conversation (startMessaging, accept). Each sender keeps exactly one message
// in flight: it POSTs text/plain to its sendMessage href, and sends the next one when its
// receiver's event channel (P-GET) has returned the previous message as a `message` event and
// its own POST has been answered (201). Senders and receivers both keep a P-GET parked, as UCWA
// clients do (the sender's channel carries its own message's `completed` event). Latency is
// (receiver's P-GET returned it) - (sender started the POST).
import { HttpTarget } from '../client.js';
import type { ServerGroup } from '../child.js';
import { longPolls, runPairs, setUpPairs } from '../pair-loop.js';
import { UcwaBenchClient, connectUcwaPair } from '../ucwa-client.js';
import { BENCH_PASSWORD, benchLogin } from '../users.js';
import { eachSize, type EndToEndOptions, type EndToEndRun } from './end-to-end.js';

const CONTENT = /"plainMessage":\{"href":"data:text\/plain;charset=utf-8,m(\d+)"/g;

interface Pair {
  sender: UcwaBenchClient;
  receiver: UcwaBenchClient;
}

/** One repetition: a fresh gateway, each size in turn; one result per size. */
export async function ucwaEndToEnd(opts: EndToEndOptions): Promise<EndToEndRun[]> {
  return eachSize(opts, opts.flags, ucwaConversations);
}

async function ucwaConversations(server: ServerGroup, size: number, firstUser: number, durationS: number, warmupS: number): Promise<EndToEndRun> {
  // Per pair: the sender's POST, the sender's P-GET and the receiver's P-GET.
  const sockets = 3 * size;
  const target = HttpTarget.keepAlive(server.ports, sockets);
  try {
    const pairs = await setUpPairs(size, firstUser, async (u): Promise<Pair> => {
      const sender = new UcwaBenchClient(target, benchLogin(u), BENCH_PASSWORD);
      const receiver = new UcwaBenchClient(target, benchLogin(u + 1), BENCH_PASSWORD);
      await sender.signIn();
      await receiver.signIn();
      await connectUcwaPair(sender, receiver);
      return { sender, receiver };
    });
    await target.preconnect(sockets);
    return await runPairs(server, pairs, {
      label: 'ucwa',
      content: CONTENT,
      send: async (p, text) => {
        const r = await p.sender.sendMessage(text);
        if (r.status !== 201) throw new Error(`sendMessage ${p.sender.login}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      },
      listen: longPolls(
        (p) => p.receiver.poll(),
        (p) => p.sender.poll(),
      ),
      describeStalled: (stalled) => ` (first: ${stalled[0]!.pair.sender.login} seq ${stalled[0]!.seq})`,
    }, durationS, warmupS);
  } finally {
    target.agent.destroy();
  }
}
