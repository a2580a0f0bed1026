// Sends one message and prints the first answer:
//   node examples/send-one.mjs sip:bob@example.com "are you there?"
// Exit 0 with an answer; 1 when the invitation fails (the SIP reason is printed) or no answer comes.
import { CwaClient, SipError } from 'cwa-gateway/client';

const [to, text = 'hello'] = process.argv.slice(2);
if (!to) {
  console.error('usage: node examples/send-one.mjs SIP-URI [TEXT]');
  process.exit(2);
}
const baseUrl = process.env.CWA_URL ?? 'http://127.0.0.1:8080';
const user = process.env.CWA_USER ?? 'alice';
const waitMs = Number(process.env.CWA_WAIT_MS ?? 10_000);

const client = new CwaClient({ baseUrl });
await client.signIn(user, process.env.CWA_PASSWORD ?? `${user}-demo`);
let code = 0;
try {
  const chat = await client.sessions.startImSession(to, text);
  const answer = new Promise((resolve) => chat.onMessage(resolve));
  await chat.connected();
  const timeout = new Promise((resolve) => setTimeout(resolve, waitMs, undefined));
  const m = await Promise.race([answer, timeout]);
  if (m) console.log(`${m.sender}: ${m.content}`);
  else {
    console.error(`no answer within ${waitMs} ms`);
    code = 1;
  }
  await chat.terminate();
} catch (err) {
  // e.g. "sip:nobody@example.com: user not found (SIP 404 Not Found)"
  console.error(err instanceof SipError ? err.message : `failed: ${err.message}`);
  code = 1;
} finally {
  await client.signOut();
}
process.exit(code);
