// A bot that accepts every conversation and sends each line back, until Ctrl-C.
//   CWA_URL=http://127.0.0.1:8080 CWA_USER=bob CWA_PASSWORD=bob-demo node examples/echo-bot.mjs
import { CwaClient } from 'cwa-gateway/client';

const baseUrl = process.env.CWA_URL ?? 'http://127.0.0.1:8080';
const user = process.env.CWA_USER ?? 'bob';
const password = process.env.CWA_PASSWORD ?? `${user}-demo`;

const client = new CwaClient({ baseUrl });
client.sessions.onIncomingSession(async (chat) => {
  console.log(`echo-bot: ${chat.peer.uri} started a conversation`);
  chat.onMessage((m) => {
    chat.sendMessage(`echo: ${m.content}`).catch((err) => console.error(`echo-bot: could not answer: ${err.message}`));
  });
  await chat.accept();
});
// After a gateway restart the client signs in again by itself; the bot only reports it.
client.onSessionLost(() => console.log('echo-bot: session lost, signing in again'));
client.onSignedInAgain(({ sid }) => console.log(`echo-bot: signed in again (session ${sid})`));
let stopping = false;
client.onEnded((reason, { error }) => {
  if (stopping) return;
  console.error(`echo-bot: session over (${reason}${error ? `: ${error.message}` : ''})`);
  process.exit(1);
});

await client.signIn(user, password);
console.log(`echo-bot: signed in as ${client.uri}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    stopping = true;
    await client.signOut();
    console.log('echo-bot: signed out');
    process.exit(0);
  });
}
