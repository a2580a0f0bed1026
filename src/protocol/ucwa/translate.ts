// The engine's domain events, as a UCWA application sees them (§5.1, §8, §9): each
// conference event of the application's session becomes the UCWA events of its
// conversation, and the application's state (state.ts) follows. Runs while a command is
// applied (the event sink calls it), so every node of a cluster computes the same.
import type { Outcome, PhrasedError } from '../../engine/outcomes.js';
import { ucwaReasonOf } from '../ucwa-outcomes.js';
import type { CwaEvent, ConferenceEventBody, ImMessage } from '../../engine/types.js';
import type { ErrorBody, UcwaEvent } from './resource.js';
import type { CategoryView, PresenceUserView } from '../../engine/user-data-types.js';
import { summaryOf } from './presence.js';
import { Hrefs, MESSAGES_KEPT, sameUri, subscribedKeys, type UcwaApp, type UcwaConversation, type UcwaParticipant, type UcwaState } from './state.js';
import {
  communicationView,
  conversationView,
  invitationView,
  meView,
  messageView,
  messagingView,
  participantInvitationView,
  participantMessagingView,
  participantView,
} from './views.js';

/** How an engine outcome reads as a UCWA `reason` (protocol/ucwa-outcomes.ts). */
export const reasonOf = ucwaReasonOf;

export function textOf(m: ImMessage): { plain?: string; html?: string } {
  return /html/i.test(m.format ?? '') ? { html: m.content } : { plain: m.content };
}

export class UcwaTranslator {
  constructor(
    private readonly state: UcwaState,
    private readonly inviteTimeoutMs: () => number,
  ) {}

  translate(app: UcwaApp, event: CwaEvent): UcwaEvent[] {
    const out: UcwaEvent[] = [];
    if (event.kind === 'conference') this.conference(app, event.confId, event.body, out);
    else if (event.kind === 'requestFailed') this.failed(app, event.rid, event.error, out);
    else if (event.kind === 'selfPresence') this.selfPresence(app, event.categories, out);
    else if (event.kind === 'userPresence') this.userPresence(app, event.users, out);
    // configuration, contacts and the other presence events have no UCWA form here.
    return out;
  }

  private emit(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation | undefined, e: Omit<UcwaEvent, 'sender'>): void {
    const h = new Hrefs(app.sid);
    const sender = c ? { rel: 'conversation', href: h.conversation(c) } : { rel: 'communication', href: h.communication };
    out.push({ sender, ...e });
  }

  private invitation(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation, type: 'started' | 'updated' | 'completed'): void {
    const r = invitationView(app, c, type);
    this.emit(out, app, undefined, {
      type,
      link: { rel: 'messagingInvitation', href: r.href },
      resource: r,
      ...(type === 'completed' ? { status: c.invitationState === 'Connected' ? 'Success' : 'Failure' } : {}),
      ...(type === 'completed' && c.invitationState !== 'Connected' && c.failure ? { reason: c.failure } : {}),
    });
  }

  private conversationEvent(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation, type: 'added' | 'updated' | 'deleted'): void {
    const r = conversationView(app, c);
    this.emit(out, app, undefined, { type, link: { rel: 'conversation', href: r.href }, ...(type === 'deleted' ? {} : { resource: r }) });
  }

  private messagingEvent(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation): void {
    const r = messagingView(app, c);
    this.emit(out, app, c, { type: 'updated', link: { rel: 'messaging', href: r.href }, resource: r });
  }

  private localParticipant(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation): void {
    const r = participantView(app, c, { uri: app.uri, name: app.name });
    this.emit(out, app, c, { type: 'added', link: { rel: 'localParticipant', href: r.href, title: app.name }, resource: r });
  }

  private addParticipant(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation, p: UcwaParticipant): void {
    if (sameUri(p.uri, app.uri) || c.participants.some((q) => sameUri(q.uri, p.uri))) return;
    c.participants.push(p);
    const h = new Hrefs(app.sid);
    const href = h.participant(c, p.uri);
    this.emit(out, app, c, { type: 'added', link: { rel: 'participant', href, title: p.name } });
    if (c.messaging === 'Connected') {
      this.emit(out, app, c, { type: 'added', link: { rel: 'participantMessaging', href: `${href}/messaging` }, in: { rel: 'participant', href, title: p.name } });
    }
    // An addParticipant of this application completes when its invitee joins.
    const inv = c.participantInvitations.find((i) => i.state === 'Connecting' && sameUri(i.to, p.uri));
    if (inv) {
      inv.state = 'Connected';
      this.participantInvitationCompleted(out, app, c, inv.id, undefined);
    }
  }

  private participantInvitationCompleted(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation, id: string, reason: ErrorBody | undefined): void {
    const inv = c.participantInvitations.find((i) => i.id === id);
    if (!inv) return;
    const r = participantInvitationView(app, c, inv, true);
    this.emit(out, app, undefined, {
      type: 'completed',
      link: { rel: 'participantInvitation', href: r.href },
      status: inv.state === 'Connected' ? 'Success' : 'Failure',
      ...(reason ? { reason } : {}),
      resource: r,
    });
    c.participantInvitations = c.participantInvitations.filter((i) => i !== inv);
  }

  private removeParticipant(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation, uri: string): void {
    const p = c.participants.find((q) => sameUri(q.uri, uri));
    if (!p) return;
    c.participants = c.participants.filter((q) => q !== p);
    c.typing = c.typing.filter((u) => !sameUri(u, uri));
    const href = new Hrefs(app.sid).participant(c, p.uri);
    this.emit(out, app, c, { type: 'deleted', link: { rel: 'participantMessaging', href: `${href}/messaging` }, in: { rel: 'participant', href, title: p.name } });
    this.emit(out, app, c, { type: 'deleted', link: { rel: 'participant', href, title: p.name } });
  }

  private pushMessage(c: UcwaConversation, m: UcwaConversation['messages'][number]): void {
    c.messages.push(m);
    if (c.messages.length > MESSAGES_KEPT) c.messages.splice(0, c.messages.length - MESSAGES_KEPT);
  }

  private messageCompleted(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation, m: UcwaConversation['messages'][number]): void {
    const r = messageView(app, c, m);
    this.emit(out, app, c, {
      type: 'completed',
      link: { rel: 'message', href: r.href },
      status: m.status === 'Failed' ? 'Failure' : 'Success',
      ...(m.reason ? { reason: m.reason } : {}),
      resource: r,
    });
  }

  private conference(app: UcwaApp, confId: number, body: ConferenceEventBody, out: UcwaEvent[]): void {
    const { state } = this;
    if (body.type === 'initiateImSessionAccepted') {
      const op = app.ops.get(body.rid);
      const c = op?.kind === 'start' ? app.conversations.get(op.conv) : undefined;
      if (!c) return;
      c.confId = confId;
      app.byConfId.set(confId, c.id);
      this.invitation(out, app, c, 'started');
      this.conversationEvent(out, app, c, 'added');
      this.localParticipant(out, app, c);
      this.messagingEvent(out, app, c);
      return;
    }
    if (body.type === 'imSessionReceived') {
      const inviter: UcwaParticipant = { uri: body.inviter.uri, name: body.inviter.name ?? '' };
      const c = state.newConversation(app, {
        confId,
        direction: 'Incoming',
        invitationState: 'Connecting',
        subject: body.subject ?? '',
        importance: 'Normal',
        threadId: body.conversationId.replace(/-/g, ''),
        to: app.uri,
        inviter,
        ...(body.message ? { firstMessage: textOf(body.message) } : {}),
        state: 'Incoming',
        messaging: 'Connecting',
        conference: body.escalationMode === 'escalated',
      });
      this.invitation(out, app, c, 'started');
      this.conversationEvent(out, app, c, 'added');
      this.localParticipant(out, app, c);
      this.addParticipant(out, app, c, inviter);
      return;
    }
    const id = app.byConfId.get(confId);
    const c = id === undefined ? undefined : app.conversations.get(id);
    if (!c) return;
    switch (body.type) {
      case 'participant':
        this.addParticipant(out, app, c, { uri: body.uri, name: body.name ?? '' });
        return;
      case 'participantRemoved':
        if (!sameUri(body.uri, app.uri)) this.removeParticipant(out, app, c, body.uri);
        return;
      case 'escalationMode':
      case 'confUri':
        if ((body.type === 'confUri' || body.mode === 'escalated') && !c.conference) {
          c.conference = true;
          if (c.state === 'Connected') {
            c.state = 'Conferenced';
            this.conversationEvent(out, app, c, 'updated');
          }
        }
        return;
      case 'imSessionState':
        if (body.state === 'connected') this.connected(out, app, c);
        else if (body.state === 'terminated') this.terminated(out, app, c);
        return;
      case 'messageReceived': {
        const m = { n: c.nextMessage++, direction: 'Incoming' as const, status: 'Succeeded' as const, at: state.now, from: body.sender, ...textOf(body.message) };
        this.pushMessage(c, m);
        this.messageCompleted(out, app, c, m);
        return;
      }
      case 'messageIdReceived':
      case 'messageSendFailed': {
        const op = app.ops.get(body.rid ?? '');
        if (op?.kind !== 'send') return;
        app.ops.delete(body.rid!);
        const m = c.messages.find((x) => x.n === op.n);
        if (!m) return;
        m.status = body.type === 'messageIdReceived' ? 'Succeeded' : 'Failed';
        if (body.type === 'messageSendFailed') m.reason = reasonOf(body.error);
        this.messageCompleted(out, app, c, m);
        return;
      }
      case 'composingState': {
        if (sameUri(body.uri, app.uri)) return;
        const key = body.uri.toLowerCase();
        const typing = c.typing.includes(key);
        if ((body.state === 'composing') === typing) return;
        c.typing = body.state === 'composing' ? [...c.typing, key] : c.typing.filter((u) => u !== key);
        const h = new Hrefs(app.sid);
        const p = c.participants.find((q) => sameUri(q.uri, body.uri));
        this.emit(out, app, c, {
          type: body.state === 'composing' ? 'added' : 'deleted',
          link: { rel: 'participant', href: h.participant(c, body.uri), title: p?.name ?? '' },
          in: { rel: 'typingParticipants', href: `${h.messaging(c)}/typingParticipants` },
        });
        return;
      }
      case 'inviteFailed':
      default:
        return;
    }
  }

  private connected(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation): void {
    if (c.messaging === 'Connected') return;
    c.state = c.conference ? 'Conferenced' : 'Connected';
    c.messaging = 'Connected';
    const h = new Hrefs(app.sid);
    this.conversationEvent(out, app, c, 'updated');
    for (const p of c.participants) {
      const href = h.participant(c, p.uri);
      this.emit(out, app, c, { type: 'added', link: { rel: 'participantMessaging', href: `${href}/messaging` }, in: { rel: 'participant', href, title: p.name } });
    }
    const local = participantMessagingView(app, c, { uri: app.uri, name: app.name });
    this.emit(out, app, c, {
      type: 'added',
      link: { rel: 'participantMessaging', href: local.href },
      in: { rel: 'localParticipant', href: h.participant(c, app.uri), title: app.name },
      resource: local,
    });
    this.messagingEvent(out, app, c);
    if (c.invitationState === 'Connecting') {
      c.invitationState = 'Connected';
      this.invitation(out, app, c, 'completed');
    }
    if (c.direction === 'Incoming' && c.firstMessage) {
      const m = { n: c.nextMessage++, direction: 'Incoming' as const, status: 'Succeeded' as const, at: this.state.now, from: c.inviter.uri, ...c.firstMessage };
      this.pushMessage(c, m);
      this.messageCompleted(out, app, c, m);
    }
  }

  private terminated(out: UcwaEvent[], app: UcwaApp, c: UcwaConversation): void {
    if (c.invitationState === 'Connecting') {
      c.invitationState = c.declined ? 'Declined' : 'Failed';
      c.failure ??= c.declined
        ? { code: 'LocalFailure', subcode: 'Declined', message: 'The invitation was declined.' }
        : c.direction === 'Incoming'
          ? this.state.now - c.createdAt >= this.inviteTimeoutMs()
            ? { code: 'RemoteFailure', subcode: 'Missed', message: 'The invitation was not answered in time.' }
            : { code: 'RemoteFailure', subcode: 'Canceled', message: 'The invitation was withdrawn or answered elsewhere.' }
          : { code: 'LocalFailure', subcode: 'Canceled', message: 'The invitation was canceled.' };
      this.invitation(out, app, c, 'completed');
    }
    for (const inv of [...c.participantInvitations]) {
      inv.state = 'Failed';
      this.participantInvitationCompleted(out, app, c, inv.id, { code: 'LocalFailure', subcode: 'Ended', message: 'The conversation ended.' });
    }
    c.messaging = 'Disconnected';
    c.state = 'Disconnected';
    this.messagingEvent(out, app, c);
    for (const p of [...c.participants]) this.removeParticipant(out, app, c, p.uri);
    this.conversationEvent(out, app, c, 'deleted');
    this.state.dropConversation(app, c);
  }

  /** An asynchronous failure of an operation (the engine's requestFailed for its rid). */
  private failed(app: UcwaApp, rid: string, error: Outcome | PhrasedError, out: UcwaEvent[]): void {
    const op = app.ops.get(rid);
    if (!op) return;
    const c = app.conversations.get(op.conv);
    if (!c) return;
    if (op.kind === 'start') {
      c.failure = reasonOf(error);
    } else if (op.kind === 'addParticipant') {
      const inv = c.participantInvitations.find((i) => i.id === op.inv);
      if (inv && inv.state === 'Connecting') {
        inv.state = 'Failed';
        this.participantInvitationCompleted(out, app, c, inv.id, reasonOf(error));
      }
    }
  }

  /** The user's own presence as the engine shows it to the user: `presence` / `note` updated on the `me` sender. */
  private selfPresence(app: UcwaApp, categories: CategoryView[], out: UcwaEvent[]): void {
    const now = summaryOf(categories);
    const was = app.presence.self;
    app.presence.self = now;
    // Before makeMeAvailable the application has no presence or note resource to tell about.
    if (!app.available) return;
    const me = new Hrefs(app.sid).me;
    const sender = { rel: 'me', href: me };
    if (was?.availability !== now.availability) out.push({ sender, type: 'updated', link: { rel: 'presence', href: `${me}/presence` } });
    if (was?.note !== now.note) out.push({ sender, type: 'updated', link: { rel: 'note', href: `${me}/note` } });
  }

  /** Someone the application subscribed to changed: `contactPresence` / `contactNote` updated on the `people` sender. */
  private userPresence(app: UcwaApp, users: PresenceUserView[], out: UcwaEvent[]): void {
    const subscribed = subscribedKeys(app);
    const h = new Hrefs(app.sid);
    const sender = { rel: 'people', href: h.people };
    for (const user of users) {
      const key = user.uri.toLowerCase();
      if (!subscribed.has(key)) continue;
      const now = summaryOf(user.categories);
      const was = app.presence.seen.get(key);
      app.presence.seen.set(key, now);
      const contact = { rel: 'contact', href: h.person(user.uri) };
      if (was?.availability !== now.availability) out.push({ sender, type: 'updated', link: { rel: 'contactPresence', href: `${contact.href}/presence` }, in: contact });
      if (was !== undefined && was.note !== now.note) out.push({ sender, type: 'updated', link: { rel: 'contactNote', href: `${contact.href}/note` }, in: contact });
    }
  }

  /** makeMeAvailable on the `me` sender (§3.3): `me` updated, `presence` and `note` added. */
  meAvailable(app: UcwaApp): UcwaEvent[] {
    const h = new Hrefs(app.sid);
    const sender = { rel: 'me', href: h.me };
    const r = meView(app);
    return [
      { sender, type: 'updated', link: { rel: 'me', href: h.me }, resource: r },
      { sender, type: 'added', link: { rel: 'presence', href: `${h.me}/presence` } },
      { sender, type: 'added', link: { rel: 'note', href: `${h.me}/note` } },
    ];
  }

  /** communication updated (makeMeAvailable), as §3.3 observed. */
  communicationUpdated(app: UcwaApp): UcwaEvent[] {
    const h = new Hrefs(app.sid);
    const r = communicationView(app);
    return [
      { sender: { rel: 'me', href: h.me }, type: 'updated', link: { rel: 'me', href: h.me } },
      { sender: { rel: 'communication', href: h.communication }, type: 'updated', link: { rel: 'communication', href: r.href }, resource: r },
    ];
  }
}
