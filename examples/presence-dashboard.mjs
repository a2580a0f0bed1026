// A live presence dashboard: signs in, lists the user's contacts with their presence and note,
// then prints a line whenever one of them changes. Ctrl-C signs out.
//
//   CWA_URL=http://127.0.0.1:8080 CWA_USER=alice node examples/presence-dashboard.mjs
import { CwaClient } from 'cwa-gateway/client';

const baseUrl = process.env.CWA_URL ?? 'http://127.0.0.1:8080';
const user = process.env.CWA_USER ?? 'alice';
const password = process.env.CWA_PASSWORD ?? `${user}-demo`;
const client = new CwaClient({ baseUrl });

/** What was last printed per contact, so that a line means a change. */
const shown = new Map();
const LABELS = { available: 'Available', busy: 'Busy', doNotDisturb: 'Do not disturb', beRightBack: 'Be right back', away: 'Away', offline: 'Offline' };

function line(uri) {
  const contact = client.contacts.get(uri);
  if (!contact) return; // someone who is not a contact (a one-off query, say)
  const p = client.presence.get(uri);
  const text = `${contact.name.padEnd(12)} ${LABELS[p?.availability ?? 'offline'].padEnd(15)}${p?.note ? ` "${p.note}"` : ''}`.trimEnd();
  if (shown.get(uri) === text) return;
  shown.set(uri, text);
  console.log(text);
}

client.on('connectionLost', () => console.log('-- connection lost, retrying'));
client.on('resumed', () => console.log('-- connection back'));
client.on('sessionLost', () => console.log('-- session lost, signing in again'));
let stopping = false;
client.on('ended', (reason) => {
  if (stopping) return;
  console.error(`presence-dashboard: ended (${reason})`);
  process.exit(1);
});

await client.signIn(user, password);
await new Promise((resolve) => (client.contacts.loaded ? resolve() : client.contacts.onChanged(resolve)));
console.log(`contacts of ${client.uri}:`);
if (client.contacts.all().length === 0) console.log('(none yet: add some with client.contacts.add)');
for (const c of client.contacts.all()) line(c.uri);
client.presence.onChanged((p) => line(p.uri));
client.contacts.onChanged(() => client.contacts.all().forEach((c) => line(c.uri)));

process.on('SIGINT', async () => {
  stopping = true;
  await client.signOut();
  console.log('presence-dashboard: signed out');
  process.exit(0);
});
