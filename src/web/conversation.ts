// One conversation on the page: a region named after the other participants, its message
// log, who is typing, the message box, Invite and Leave. It starts as a draft (no session
// yet: the first message sent starts it) or from an accepted invitation.
import type { CwaClient, ImMessage, ImSession } from 'cwa-gateway/client';
import { h, uid } from './dom.js';

export interface Names {
  /** The display name of a SIP URI (a participant, a contact, someone found …). */
  of(uri: string, hint?: string): string;
  /** The signed-in user's display name. */
  self(): string;
  /** A SIP URI from what someone typed: a URI, a login or a display name. */
  resolve(text: string): Promise<string>;
}

/** After this long without a keystroke, the user is no longer typing. */
const IDLE_MS = 4000;
/** Re-announce typing this often while it goes on. */
const REFRESH_MS = 30_000;
/** A "typing" not refreshed for this long is dropped. */
const STALE_MS = 65_000;

const sameUri = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class Conversation {
  readonly element: HTMLElement;
  session: ImSession | undefined;
  private readonly heading: HTMLHeadingElement;
  private readonly log: HTMLDivElement;
  private readonly typing: HTMLParagraphElement;
  private readonly input: HTMLInputElement;
  private readonly inviteForm: HTMLFormElement;
  private readonly inviteInput: HTMLInputElement;
  /** The other participants, in the order they joined. */
  private readonly others: string[] = [];
  private readonly typers = new Map<string, ReturnType<typeof setTimeout>>();
  private composing = false;
  private composingSentAt = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private ended = false;
  /** The first message's startImSession, while it runs (later messages wait for it). */
  private starting: Promise<ImSession> | undefined;

  constructor(
    private readonly client: CwaClient,
    private readonly names: Names,
    /** The person a draft is addressed to (for a draft, or the inviter of an accepted invitation). */
    peer: string,
    private readonly onClose: (c: Conversation) => void,
  ) {
    this.others.push(peer);
    const headingId = uid('conv');
    this.heading = h('h2', { id: headingId });
    this.log = h('div', { class: 'log', role: 'log', 'aria-label': 'Messages', 'aria-live': 'polite', tabindex: '0' });
    this.typing = h('p', { class: 'typing', role: 'status' });
    this.input = h('input', { type: 'text', 'aria-label': 'Message', autocomplete: 'off', oninput: () => this.typed() });
    const messageForm = h(
      'form',
      { class: 'row', onsubmit: (e: Event) => (e.preventDefault(), void this.send()) },
      this.input,
      h('button', { type: 'submit' }, 'Send'),
    );
    this.inviteInput = h('input', { type: 'text', 'aria-label': 'Invite someone', placeholder: 'sip:…, login or name' });
    this.inviteForm = h(
      'form',
      { class: 'row', hidden: true, onsubmit: (e: Event) => (e.preventDefault(), void this.invite()) },
      this.inviteInput,
      h('button', { type: 'submit' }, 'Add'),
    );
    const inviteButton = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', onclick: () => this.toggleInvite(inviteButton) }, 'Invite');
    const leaveButton = h('button', { type: 'button', class: 'secondary', onclick: () => void this.leave() }, 'Leave');
    this.element = h(
      'section',
      { class: 'conversation', 'aria-labelledby': headingId },
      this.heading,
      this.log,
      this.typing,
      messageForm,
      h('div', { class: 'row' }, inviteButton, leaveButton),
      this.inviteForm,
    );
    this.rename();
  }

  /** The person a draft or one-to-one conversation is with. */
  get peer(): string | undefined {
    return this.others.length === 1 ? this.others[0] : undefined;
  }

  get live(): boolean {
    return !this.ended;
  }

  focus(): void {
    this.input.focus();
  }

  /** Takes an accepted (or being accepted) session; `first` is the invitation's message. */
  attach(session: ImSession, first?: ImMessage): void {
    this.session = session;
    if (first) this.line(`${this.names.of(first.sender)}: ${first.content}`);
    for (const p of session.participants.values()) this.joined(p.uri, p.name, false);
    session.onMessage((m) => {
      this.stopTyping(m.sender);
      this.line(`${this.names.of(m.sender)}: ${m.content}`);
    });
    session.onParticipantAdded((p) => this.joined(p.uri, p.name, true));
    session.onParticipantRemoved((uri) => this.left(uri));
    session.onComposing((c) => {
      if (!c.uri || sameUri(c.uri, this.client.uri)) return;
      if (c.composing) this.startTyping(c.uri);
      else this.stopTyping(c.uri);
    });
    session.onStateChanged((s) => {
      if (s === 'terminated') this.end(session.failure ? `The conversation could not start: ${session.failure.message}` : 'The conversation ended.');
    });
    if (session.state === 'terminated') this.end('The conversation ended.');
  }

  private rename(): void {
    const names = this.others.map((u) => this.names.of(u));
    this.heading.textContent = `Conversation with ${names.join(', ') || 'nobody'}`;
  }

  private line(text: string, kind?: 'event' | 'failed'): HTMLParagraphElement {
    const p = h('p', { class: kind }, text);
    this.log.append(p);
    this.log.scrollTop = this.log.scrollHeight;
    return p;
  }

  private joined(uri: string, name: string | undefined, announce: boolean): void {
    const shown = this.names.of(uri, name); // also learns the name the gateway gave
    if (sameUri(uri, this.client.uri)) return;
    if (this.others.some((o) => sameUri(o, uri))) {
      this.rename();
      return;
    }
    this.others.push(uri);
    this.rename();
    if (announce) this.line(`${shown} joined`, 'event');
  }

  private left(uri: string): void {
    const i = this.others.findIndex((o) => sameUri(o, uri));
    this.stopTyping(uri);
    this.line(`${this.names.of(uri)} left`, 'event');
    if (i >= 0 && this.others.length > 1) {
      this.others.splice(i, 1);
      this.rename();
    }
  }

  private startTyping(uri: string): void {
    clearTimeout(this.typers.get(uri.toLowerCase()));
    this.typers.set(uri.toLowerCase(), setTimeout(() => this.stopTyping(uri), STALE_MS));
    this.showTyping();
  }

  private stopTyping(uri: string): void {
    const key = uri.toLowerCase();
    if (!this.typers.has(key)) return;
    clearTimeout(this.typers.get(key));
    this.typers.delete(key);
    this.showTyping();
  }

  private showTyping(): void {
    const names = [...this.typers.keys()].map((u) => this.names.of(u));
    this.typing.textContent =
      names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing` : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing`;
  }

  /** A keystroke in the message box: tell the others (at most once per REFRESH_MS), and stop after IDLE_MS. */
  private typed(): void {
    const session = this.session;
    if (!session || session.state !== 'connected') return;
    clearTimeout(this.idleTimer);
    if (this.input.value === '') {
      this.setComposing(false);
      return;
    }
    if (!this.composing || Date.now() - this.composingSentAt > REFRESH_MS) this.setComposing(true);
    this.idleTimer = setTimeout(() => this.setComposing(false), IDLE_MS);
  }

  private setComposing(on: boolean): void {
    if (!this.session || on === this.composing && !on) return;
    this.composing = on;
    if (on) this.composingSentAt = Date.now();
    this.session.setComposing(on).catch(() => undefined);
  }

  private async send(): Promise<void> {
    const text = this.input.value;
    if (text.trim() === '' || this.ended) return;
    this.input.value = '';
    clearTimeout(this.idleTimer);
    this.composing = false; // a message ends typing; the others clear it when it arrives
    const mine = this.line(`${this.names.self()}: ${text}`);
    try {
      if (this.starting) await this.starting.catch(() => undefined);
      if (!this.session) {
        this.starting = this.client.sessions.startImSession(this.others[0]!, text);
        const session = await this.starting.finally(() => (this.starting = undefined));
        this.attach(session);
        await session.connected();
      } else {
        await this.session.sendMessage(text);
      }
    } catch (err) {
      // Shown as not delivered, and the text comes back to the box unless something new is there.
      mine.classList.add('failed');
      mine.append(document.createTextNode(` (not delivered: ${(err as Error).message})`));
      if (this.input.value === '') this.input.value = text;
    }
  }

  private toggleInvite(button: HTMLButtonElement): void {
    const open = this.inviteForm.hidden;
    this.inviteForm.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) this.inviteInput.focus();
  }

  private async invite(): Promise<void> {
    const text = this.inviteInput.value.trim();
    if (text === '') return;
    if (!this.session || this.session.state !== 'connected') {
      this.line('Send a first message before inviting someone.', 'failed');
      return;
    }
    const session = this.session;
    try {
      const uri = await this.names.resolve(text);
      this.inviteInput.value = '';
      this.inviteForm.hidden = true;
      this.line(`Inviting ${this.names.of(uri)}…`, 'event');
      await session.addParticipant(uri);
    } catch (err) {
      this.line(`Could not invite ${text}: ${(err as Error).message}`, 'failed');
    }
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.typers.values()) clearTimeout(t);
    this.typers.clear();
    this.showTyping();
    clearTimeout(this.idleTimer);
    this.line(why, 'event');
    this.input.disabled = true;
    this.inviteInput.disabled = true;
  }

  /** The client lost its session (the gateway restarted): says why a conversation that had started is over. */
  sessionLost(): void {
    if (this.session) this.line('The connection to the gateway was lost: this conversation is over.', 'event');
  }

  /** Leaves the conversation (or closes it once it ended) and removes it from the page. */
  async leave(): Promise<void> {
    const session = this.session;
    this.ended = true;
    clearTimeout(this.idleTimer);
    for (const t of this.typers.values()) clearTimeout(t);
    this.element.remove();
    this.onClose(this);
    if (session && session.state !== 'terminated') await session.terminate().catch(() => undefined);
  }
}
