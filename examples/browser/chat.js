// The page's script: everything goes through the client bundle (one ES module, no build step).
import { CwaClient, NetworkError, SignInRejectedError } from './cwa-gateway-client.js';

const $ = (id) => document.getElementById(id);
const baseUrl = new URLSearchParams(location.search).get('gateway') ?? location.origin;
const client = new CwaClient({ baseUrl });
/** One conversation per person, started by either side. */
const chats = new Map();

function log(text) {
  const p = document.createElement('p');
  p.textContent = text; // text, never HTML
  $('log').append(p);
}

function adopt(chat) {
  chats.set(chat.peer.uri, chat);
  chat.onMessage((m) => log(`${chat.peer.name || chat.peer.uri}: ${m.content}`));
  chat.onStateChanged((state) => {
    if (state !== 'terminated' || chats.get(chat.peer.uri) !== chat) return;
    chats.delete(chat.peer.uri);
    log(`(the conversation with ${chat.peer.name || chat.peer.uri} is over)`);
  });
}

function renderContacts() {
  const items = client.contacts.all().map((c) => {
    const li = document.createElement('li');
    const p = client.presence.get(c.uri);
    li.textContent = `${c.name}: ${p?.availability ?? 'offline'}${p?.note ? ` (${p.note})` : ''}`;
    return li;
  });
  $('contacts').replaceChildren(...items);
}

client.sessions.onIncomingSession(async (chat) => {
  adopt(chat);
  await chat.accept();
});
client.contacts.onChanged(renderContacts);
client.presence.onChanged(renderContacts);
client.on('connectionLost', () => ($('status').textContent = 'Connection lost, retrying…'));
client.on('resumed', () => ($('status').textContent = `Signed in as ${client.uri}`));
client.on('ended', (reason) => ($('status').textContent = `Signed out (${reason})`));

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  $('status').textContent = 'Signing in…';
  try {
    await client.signIn(String(form.get('user')), String(form.get('password')));
    $('status').textContent = `Signed in as ${client.uri}`;
    $('signin').hidden = true;
    $('main').hidden = false;
  } catch (err) {
    $('status').textContent =
      err instanceof SignInRejectedError ? 'Wrong user name or password' : err instanceof NetworkError ? 'The gateway cannot be reached' : err.message;
  }
});

$('send').addEventListener('submit', async (e) => {
  e.preventDefault();
  const to = e.target.elements.to.value.trim();
  const text = e.target.elements.text.value;
  e.target.elements.text.value = '';
  try {
    let chat = chats.get(to);
    if (chat) {
      await chat.sendMessage(text);
    } else {
      chat = await client.sessions.startImSession(to, text); // the first message rides in the invitation
      adopt(chat);
      await chat.connected();
    }
    log(`me: ${text}`);
  } catch (err) {
    log(`not sent: ${err.message}`); // a SipError names the SIP code and its meaning
  }
});
