// Alice and bob chat through the gateway: bob answers every line after the first.
import { CwaClient } from 'cwa-gateway/client';

const baseUrl = process.env.CWA_URL ?? 'http://127.0.0.1:8080';
const alice = new CwaClient({ baseUrl });
const bob = new CwaClient({ baseUrl });

bob.sessions.onIncomingSession(async (chat) => {
  chat.onMessage(async (m) => {
    // The invitation's message comes first, through the same onMessage.
    console.log(`bob got: ${m.content}${m.fromInvitation ? ' (with the invitation)' : ''}`);
    if (!m.fromInvitation) await chat.sendMessage(`you said "${m.content}"`);
  });
  await chat.accept();
});
await alice.signIn('alice', 'alice-demo');
await bob.signIn('bob', 'bob-demo');

const chat = await alice.sessions.startImSession(bob.uri, 'hi bob');
const reply = new Promise((resolve) => chat.onMessage(resolve));
await chat.connected();
await chat.sendMessage('lunch at noon?');
console.log(`alice got: ${(await reply).content}`);
await alice.signOut();
await bob.signOut();
