// The web client: sign-in, the user's status and note, contacts by group with live presence,
// directory search, invitations and conversations. Everything goes through the client
// library (cwa-gateway/client), like any other client of the gateway.
import {
  CwaClient,
  CwaRequestError,
  NetworkError,
  DEFAULT_GROUP,
  type Availability,
  type DirectoryUser,
  type EndReason,
  type ImSession,
} from 'cwa-gateway/client';
import { ConnectionMonitor, type ConnectionState } from './connection.js';
import { Conversation, type Names } from './conversation.js';
import { fill, h, uid } from './dom.js';

/** What the user can choose ("Appear offline" publishes offline). */
const CHOICES: ReadonlyArray<[Availability, string]> = [
  ['available', 'Available'],
  ['busy', 'Busy'],
  ['doNotDisturb', 'Do not disturb'],
  ['beRightBack', 'Be right back'],
  ['away', 'Away'],
  ['offline', 'Appear offline'],
];

/** What others see. */
const SHOWN: Record<Availability, string> = {
  available: 'Available',
  busy: 'Busy',
  doNotDisturb: 'Do not disturb',
  beRightBack: 'Be right back',
  away: 'Away',
  offline: 'Offline',
};

/**
 * How often user activity is told to the gateway while it goes on (the client library reports
 * the first activity after a quiet spell at once): well under any sensible --machine-idle-s.
 */
const ACTIVITY_REPORT_MS = 5000;
/** What counts as the person using the page. */
const ACTIVITY_EVENTS = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart'] as const;

const ENDED: Record<Exclude<EndReason, 'stopped'>, string> = {
  sessionEnded: 'Your session ended. Sign in again.',
  notAuthenticated: 'The gateway no longer knows this sign-in (it may have restarted). Sign in again.',
  cursorLost: 'Events were lost while the connection was down. Sign in again.',
  unreachable: 'The gateway could not be reached for too long. Sign in again when it is back.',
};

const key = (uri: string) => uri.trim().toLowerCase();
const userPart = (uri: string) => uri.replace(/^sip:/i, '').split('@')[0] ?? uri;

function reasonOf(err: unknown): string {
  if (err instanceof CwaRequestError) return err.message;
  if (err instanceof NetworkError || err instanceof TypeError) return 'the gateway cannot be reached';
  return err instanceof Error ? err.message : String(err);
}

/** The gateway serving this page: the parent of /app/. */
function gatewayUrl(): string {
  return new URL('..', location.href).href.replace(/\/+$/, '');
}

export class App {
  private client: CwaClient | undefined;
  private login = '';
  /** The status the user chose on this page (published again after the client signs in again). */
  private chosen: Availability | undefined;
  /** The note the user saved on this page, likewise. */
  private savedNote: string | undefined;
  private conversations: Conversation[] = [];
  /** Display names learnt from participants and search results. */
  private readonly knownNames = new Map<string, string>();
  private contactList!: HTMLUListElement;
  private heading!: HTMLHeadingElement;
  private statusSelect!: HTMLSelectElement;
  private noteInput!: HTMLInputElement;
  private notice!: HTMLParagraphElement;
  private results!: HTMLUListElement;
  private resultsStatus!: HTMLParagraphElement;
  private conversationArea!: HTMLDivElement;
  private readonly dialogs = new Set<HTMLDialogElement>();

  constructor(
    private readonly main: HTMLElement,
    private readonly connection: HTMLElement,
  ) {}

  start(): void {
    // The person is using the page: the gateway hears it (UA=true) and keeps them from turning Away.
    const active = () => this.client?.reportActivity();
    for (const type of ACTIVITY_EVENTS) document.addEventListener(type, active, { capture: true, passive: true });
    window.addEventListener('focus', active);
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && active());
    this.showSignIn();
  }

  private readonly names: Names = {
    of: (uri, hint) => {
      if (hint) this.knownNames.set(key(uri), hint);
      const c = this.client;
      return (
        c?.presence.get(uri)?.displayName ??
        this.knownNames.get(key(uri)) ??
        (c?.contacts.get(uri)?.name || undefined) ??
        (c && key(uri) === key(c.uri) ? this.names.self() : undefined) ??
        userPart(uri)
      );
    },
    self: () => this.client?.presence.self?.displayName ?? this.login,
    resolve: (text) => this.resolve(text),
  };

  // ---- sign-in ------------------------------------------------------------------------

  private showSignIn(message?: string, user = ''): void {
    this.showConnection(undefined);
    const userInput = h('input', { id: 'user', type: 'text', autocomplete: 'username', required: true, value: user });
    const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const button = h('button', { type: 'submit' }, 'Sign in');
    const form = h(
      'form',
      { class: 'signin', 'aria-labelledby': 'signin-h' },
      h('h1', { id: 'signin-h' }, 'Sign in to cwa-gateway'),
      h('label', { for: 'user' }, 'User name'),
      userInput,
      h('label', { for: 'password' }, 'Password'),
      password,
      h('p', {}, button),
      message ? h('p', { role: 'alert' }, message) : null,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.signIn(userInput.value.trim(), password.value, form, button);
    });
    fill(this.main, form);
    (user ? password : userInput).focus();
  }

  private async signIn(user: string, password: string, form: HTMLFormElement, button: HTMLButtonElement): Promise<void> {
    form.querySelector('[role=alert]')?.remove();
    button.disabled = true;
    const monitor = new ConnectionMonitor((s) => {
      if (this.client === client) this.showConnection(s);
    });
    // The client keeps the password in memory for this page load only (nothing is stored), to sign
    // in again by itself when the gateway restarted under the page.
    const client = new CwaClient({
      baseUrl: gatewayUrl(),
      fetch: monitor.fetch,
      webSocket: monitor.webSocket,
      signInAgain: true,
      activityReportMs: ACTIVITY_REPORT_MS,
    });
    try {
      await client.signIn(user, password, { availability: 3500 });
    } catch (err) {
      button.disabled = false;
      form.append(h('p', { role: 'alert' }, `Sign-in failed: ${reasonOf(err)}`));
      return;
    }
    this.client = client;
    this.login = user;
    this.chosen = undefined;
    this.savedNote = undefined;
    let lost = false;
    client.onTransportChanged((t) => monitor.setTransport(t));
    monitor.setTransport(client.transport);
    client.onSessionLost(({ signingInAgain }) => {
      if (this.client !== client) return;
      lost = true;
      for (const c of this.conversations) c.sessionLost();
      if (signingInAgain) monitor.setRecovering(true); // else onEnded follows: the sign-in form
    });
    client.onSignedInAgain(() => {
      if (this.client !== client) return;
      lost = false;
      monitor.setRecovering(false);
      monitor.setTransport(client.transport);
      this.renderContacts();
      void this.restorePresence(client);
    });
    client.onEnded((reason, { error }) => {
      if (this.client !== client) return;
      if (reason === 'stopped') return this.signedOut();
      // Signing in again after the gateway lost the session failed (the password changed, the
      // gateway stayed away …): the form, with why.
      this.signedOut(lost && error ? `Could not sign in again after the connection was lost: ${reasonOf(error)}. Sign in again.` : ENDED[reason]);
    });
    this.showMain();
    this.showConnection(monitor.state);
  }

  private signedOut(message?: string): void {
    this.client = undefined;
    for (const c of this.conversations) c.element.remove();
    this.conversations = [];
    for (const d of this.dialogs) d.remove();
    this.dialogs.clear();
    this.knownNames.clear();
    this.showSignIn(message, this.login);
  }

  private showConnection(state: ConnectionState | undefined): void {
    this.connection.textContent = state ?? '';
    this.connection.classList.toggle('bad', state === 'Reconnecting');
  }

  // ---- signed in ----------------------------------------------------------------------

  private showMain(): void {
    const client = this.client!;
    this.heading = h('h1', {}, this.names.self());
    this.statusSelect = h('select', { id: 'my-status' }, ...CHOICES.map(([value, label]) => h('option', { value }, label)));
    this.statusSelect.addEventListener('change', () => {
      this.chosen = this.statusSelect.value as Availability;
      void this.publish(() => client.presence.setAvailability(this.chosen!));
    });
    this.noteInput = h('input', { id: 'my-note', type: 'text', maxlength: '500', placeholder: 'What are you up to?' });
    const noteForm = h('form', {}, h('label', { for: 'my-note' }, 'Note'), this.noteInput);
    const saveNote = () => {
      const note = this.noteInput.value.trim();
      this.savedNote = note;
      void this.publish(() => client.presence.setNote(note));
    };
    noteForm.addEventListener('submit', (e) => (e.preventDefault(), saveNote()));
    this.noteInput.addEventListener('change', saveNote);
    this.notice = h('p', { class: 'typing', role: 'status' });
    const signOut = h('button', { type: 'button', class: 'secondary', onclick: () => void client.signOut().catch(() => this.signedOut()) }, 'Sign out');
    const me = h(
      'section',
      { class: 'panel me', 'aria-label': 'My presence' },
      this.heading,
      h('div', {}, h('label', { for: 'my-status' }, 'My status'), this.statusSelect),
      noteForm,
      signOut,
      this.notice,
    );

    const contactsHeading = uid('contacts');
    this.contactList = h('ul', { class: 'people', 'aria-label': 'Contacts' });
    const contacts = h('section', { class: 'panel', 'aria-labelledby': contactsHeading }, h('h2', { id: contactsHeading }, 'Contacts'), this.contactList);

    const searchBox = h('input', { type: 'search', 'aria-label': 'Search the directory', placeholder: 'Name or address' });
    const searchForm = h('form', { role: 'search' }, searchBox);
    searchForm.addEventListener('submit', (e) => (e.preventDefault(), void this.search(searchBox.value.trim())));
    this.resultsStatus = h('p', { class: 'typing', 'aria-live': 'polite' });
    this.results = h('ul', { class: 'people', 'aria-label': 'Search results' });
    const find = h('section', { class: 'panel', 'aria-label': 'Find people' }, h('h2', {}, 'Find people'), searchForm, this.resultsStatus, this.results);

    this.conversationArea = h('div', { class: 'conversations' });
    fill(this.main, h('div', { class: 'layout' }, h('div', {}, me, contacts, find), h('div', {}, this.conversationArea)));

    client.presence.onSelfChanged((self) => {
      this.heading.textContent = this.names.self();
      if (document.activeElement !== this.statusSelect) this.statusSelect.value = self.availability;
      if (document.activeElement !== this.noteInput) this.noteInput.value = self.note;
    });
    client.contacts.onChanged(() => this.renderContacts());
    client.presence.onChanged(() => this.renderContacts());
    client.sessions.onIncomingSession((s) => this.invited(s));
    this.renderContacts();
    if (client.presence.self) {
      this.statusSelect.value = client.presence.self.availability;
      this.noteInput.value = client.presence.self.note;
    }
    this.statusSelect.focus();
  }

  /** After the client signed in again (a new session): the status and note this page had set. */
  private async restorePresence(client: CwaClient): Promise<void> {
    const { chosen, savedNote } = this;
    if (chosen !== undefined && chosen !== 'available') await this.publish(() => client.presence.setAvailability(chosen));
    if (savedNote) await this.publish(() => client.presence.setNote(savedNote));
  }

  private async publish(change: () => Promise<void>): Promise<void> {
    this.notice.textContent = '';
    try {
      await change();
    } catch (err) {
      this.notice.textContent = `Not saved: ${reasonOf(err)}`;
    }
  }

  private renderContacts(): void {
    const client = this.client;
    if (!client) return;
    const groups = client.contacts.groups();
    const shown = new Set<string>();
    const items: HTMLElement[] = [];
    const section = (title: string, uris: string[]) => {
      if (uris.length === 0) return;
      items.push(h('li', { role: 'presentation' }, h('h3', {}, title)));
      for (const uri of uris) items.push(this.contactItem(uri));
    };
    for (const g of groups.filter((x) => x.name !== DEFAULT_GROUP)) {
      const uris = client.contacts.inGroup(g.id).map((c) => c.uri);
      uris.forEach((u) => shown.add(key(u)));
      section(g.name, uris);
    }
    section(
      'Other contacts',
      client.contacts.all().filter((c) => !shown.has(key(c.uri))).map((c) => c.uri),
    );
    fill(this.contactList, ...items);
  }

  private contactItem(uri: string): HTMLElement {
    const presence = this.client!.presence.get(uri);
    const availability = presence?.availability ?? 'offline';
    const name = this.names.of(uri);
    return h(
      'li',
      { class: 'person' },
      h('span', { class: 'name' }, name),
      ' ',
      h('span', { class: `avail ${availability}` }, SHOWN[availability]),
      presence?.note ? h('span', { class: 'note' }, presence.note) : null,
      h('button', { type: 'button', class: 'secondary', onclick: () => this.openConversation(uri) }, `Chat with ${name}`),
    );
  }

  private async search(query: string): Promise<void> {
    const client = this.client;
    if (!client || query === '') return;
    this.resultsStatus.textContent = 'Searching…';
    try {
      const { users, moreAvailable } = await client.directory.search(query);
      for (const u of users) if (u.displayName) this.knownNames.set(key(u.uri), u.displayName);
      fill(this.results, ...users.map((u) => this.resultItem(u)));
      this.resultsStatus.textContent =
        users.length === 0 ? 'No one found.' : `${users.length} found${moreAvailable ? '; more match, narrow the search' : ''}.`;
    } catch (err) {
      fill(this.results);
      this.resultsStatus.textContent = `Search failed: ${reasonOf(err)}`;
    }
  }

  private resultItem(u: DirectoryUser): HTMLElement {
    const client = this.client!;
    const name = u.displayName || userPart(u.uri);
    const detail = [u.title, u.office].filter(Boolean).join(', ');
    const add = h('button', { type: 'button', disabled: client.contacts.get(u.uri) !== undefined }, `Add ${name}`);
    add.addEventListener('click', async () => {
      add.disabled = true;
      try {
        await client.contacts.add(u.uri, { name });
      } catch (err) {
        add.disabled = false;
        this.resultsStatus.textContent = `Could not add ${name}: ${reasonOf(err)}`;
      }
    });
    return h(
      'li',
      { class: 'person' },
      h('span', { class: 'name' }, name),
      detail ? h('span', { class: 'detail' }, detail) : null,
      add,
      h('button', { type: 'button', class: 'secondary', onclick: () => this.openConversation(u.uri) }, `Chat with ${name}`),
    );
  }

  // ---- conversations --------------------------------------------------------------------

  private addConversation(peer: string): Conversation {
    const conv = new Conversation(this.client!, this.names, peer, (c) => {
      this.conversations = this.conversations.filter((x) => x !== c);
    });
    this.conversations.push(conv);
    this.conversationArea.prepend(conv.element);
    return conv;
  }

  /** Focuses the open one-to-one conversation with `uri`, or opens a new one. */
  private openConversation(uri: string): void {
    const open = this.conversations.find((c) => c.live && c.peer !== undefined && key(c.peer) === key(uri));
    (open ?? this.addConversation(uri)).focus();
  }

  private invited(session: ImSession): void {
    const from = this.names.of(session.peer.uri, session.peer.name);
    const title = uid('inv');
    const accept = h('button', { type: 'button' }, 'Accept');
    const decline = h('button', { type: 'button', class: 'secondary' }, 'Decline');
    const first = session.firstMessage?.content;
    const dialog = h(
      'dialog',
      { class: 'invitation', 'aria-labelledby': title },
      h('h2', { id: title }, `Invitation from ${from}`),
      first !== undefined ? h('p', {}, `${from}: ${first}`) : null,
      h('div', { class: 'row' }, accept, decline),
    );
    const returnFocus = document.activeElement as HTMLElement | null;
    const close = () => {
      dialog.close();
      dialog.remove();
      this.dialogs.delete(dialog);
      off();
    };
    const off = session.onStateChanged((s) => {
      if (s === 'terminated') {
        close();
        returnFocus?.focus();
      }
    });
    accept.addEventListener('click', () => {
      close();
      const conv = this.addConversation(session.peer.uri);
      conv.attach(session, session.firstMessage);
      conv.focus();
      session.accept().catch((err: unknown) => conv.element.append(h('p', { role: 'alert' }, `Could not accept: ${reasonOf(err)}`)));
    });
    decline.addEventListener('click', () => {
      close();
      returnFocus?.focus();
      session.terminate().catch(() => undefined);
    });
    dialog.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        decline.click();
      }
    });
    document.body.append(dialog);
    this.dialogs.add(dialog);
    dialog.show();
    accept.focus();
  }

  /** A SIP URI from what was typed: a URI, an address, a contact's name, or one match in the directory. */
  private async resolve(text: string): Promise<string> {
    const t = text.trim();
    if (/^sip:/i.test(t)) return t;
    if (t.includes('@')) return `sip:${t}`;
    const client = this.client!;
    const lower = t.toLowerCase();
    const contact = client.contacts.all().find((c) => c.name.toLowerCase() === lower || userPart(c.uri).toLowerCase() === lower);
    if (contact) return contact.uri;
    const { users } = await client.directory.search(t);
    const exact = users.filter((u) => u.displayName?.toLowerCase() === lower || userPart(u.uri).toLowerCase() === lower);
    const pick = exact.length === 1 ? exact[0] : users.length === 1 ? users[0] : undefined;
    if (pick) {
      if (pick.displayName) this.knownNames.set(key(pick.uri), pick.displayName);
      return pick.uri;
    }
    throw new Error(users.length === 0 ? 'no one by that name or address' : 'several people match; type their address');
  }
}
