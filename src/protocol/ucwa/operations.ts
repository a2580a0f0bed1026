// UCWA operations as typed requests (what the door decodes from JSON/XML/query input)
// and their effect: each becomes the engine requests a CWA session would send (an
// application is an engine session of dialect 'ucwa'), plus what the application's
// state must remember to render the outcome (ids, operationIds). Applied only through
// the `ucwa` command (cluster/state.ts), inside the engine's command mutex.
import type { EventLog } from '../../delivery/event-log.js';
import { USER_DATA_DEFAULTS, type CommandContext, type Engine } from '../../engine/engine.js';
import type { ConferenceAction, ImMessage, ResponseItem } from '../../engine/types.js';
import type { ErrorBody } from './resource.js';
import { ucwaRefusalOf } from '../ucwa-outcomes.js';
import { ucwaRecord } from './records.js';
import { canonicalUri } from '../../engine/identity.js';
import { AVAILABILITY_NAMES, MAX_NOTE_LENGTH, machineStateCategory, noteCategory, PUBLISHED_AVAILABILITY, subscriptionHref, userStateCategory } from './presence.js';
import { Hrefs, sameUri, subscribedKeys, type StickyParams, type UcwaApp, type UcwaConversation, type UcwaState, type UcwaSubscription } from './state.js';
import type { UcwaTranslator } from './translate.js';

export interface FirstMessage {
  type: 'text/plain' | 'text/html';
  text: string;
}

export type UcwaOp =
  | { kind: 'createApplication'; endpointId: string; culture: string; userAgent: string; instanceId?: string }
  | { kind: 'deleteApplication'; app: number }
  | { kind: 'makeMeAvailable'; app: number; modalities?: string[]; formats?: string[]; signInAs?: string }
  | { kind: 'setPresence'; app: number; availability: string }
  | { kind: 'setNote'; app: number; message: string }
  | { kind: 'subscribePresence'; app: number; duration?: number; uris: string[] }
  | { kind: 'addToSubscription'; app: number; id: string; uris: string[] }
  | { kind: 'unsubscribePresence'; app: number; id: string }
  | { kind: 'reportMyActivity'; app: number }
  | { kind: 'eventsAnswered'; app: number; n: number; from: number; upTo: number; sticky?: StickyParams }
  | { kind: 'addMessaging'; app: number; conv: string; operationId?: string | null; message?: FirstMessage }
  | { kind: 'startMessaging'; app: number; to: string; operationId?: string | null; subject?: string; importance?: string; threadId?: string; message?: FirstMessage }
  | { kind: 'accept'; app: number; invitation: string }
  | { kind: 'decline'; app: number; invitation: string }
  | { kind: 'sendMessage'; app: number; conv: string; operationId?: string | null; message: FirstMessage }
  | { kind: 'setIsTyping'; app: number; conv: string }
  | { kind: 'stopMessaging'; app: number; conv: string }
  | { kind: 'addParticipant'; app: number; conv: string; to: string; operationId?: string | null };

export type UcwaResult =
  | { ok: true; app?: number; location?: string; id?: string }
  | { ok: false; status: number; error: ErrorBody };

const SIP_URI = /^sip:[^@\s;]+@[^@\s;]+$/i;

export function refusal(status: number, code: string, subcode: string, message: string): UcwaResult {
  return { ok: false, status, error: { code, subcode, message } };
}

export const notFound = (what: string) => refusal(404, 'NotFound', 'ResourceNotFound', `${what} does not exist.`);
const wrongState = (message: string) => refusal(409, 'Conflict', 'InvalidResourceState', message);

/** The engine's synchronous refusal, as an HTTP status and UCWA error (protocol/ucwa-outcomes.ts). */
function engineRefusal(answer: ResponseItem): UcwaResult | undefined {
  if (answer.type !== 'requestFailed' && answer.type !== 'requestInvalid') return undefined;
  return { ok: false, ...ucwaRefusalOf(answer.error) };
}

/** An application that expired (410 InactiveApplicationExpired) or does not exist (404 ApplicationNotFound). */
export function applicationGone(app: Pick<UcwaApp, 'ended'> | undefined): { ok: false; status: number; error: ErrorBody } {
  return { ok: false, ...ucwaRefusalOf({ ended: app?.ended === 'expired' ? 'timeout' : 'terminated' }) };
}

const badAvailability = (v: string) =>
  refusal(400, 'BadRequest', 'ParameterValidationFailure', `"${v}" is not an availability: use ${AVAILABILITY_NAMES.join(', ')}.`);
const makeMeAvailableFirst = () => refusal(409, 'Conflict', 'MakeMeAvailableRequired', 'Call makeMeAvailable first.');

/** A presence subscription lasts 10 to 30 minutes (UCWA's bounds), 30 when the client names none. */
export const MIN_SUBSCRIPTION_MINUTES = 10;
export const MAX_SUBSCRIPTION_MINUTES = 30;

export function engineMessage(m: FirstMessage): ImMessage {
  return { format: `${m.type};charset=UTF-8`, content: m.text };
}

function normalizeUri(to: string): string {
  const t = to.trim();
  return /^sip:/i.test(t) ? t : `sip:${t}`;
}

const IMPORTANCE = ['Normal', 'Urgent', 'Emergency'];

export class UcwaOperations {
  constructor(
    private readonly engine: Engine,
    private readonly state: UcwaState,
    private readonly translator: UcwaTranslator,
    private readonly log: EventLog,
  ) {}

  /** Runs one operation of `login`. Must run inside the engine's `exclusive`. */
  async apply(login: string, op: UcwaOp): Promise<UcwaResult> {
    if (op.kind === 'createApplication') return this.createApplication(login, op);
    const app = this.state.appOf(login, op.app);
    const session = this.engine.sessionFor(login, op.app);
    // An ended application's channel is still read to its end (what its log kept, then why it ended).
    if (op.kind === 'eventsAnswered' && app && !session) return this.eventsAnswered(app, op);
    if (!app || !session) {
      return applicationGone(app);
    }
    const ctx: CommandContext = { login, session };
    const run = async (action: ConferenceAction, confId: number, rid = this.state.nextRid(app)) => {
      const answer = await this.engine.execute(ctx, { kind: 'conference', rid, confId, action });
      return answer;
    };
    switch (op.kind) {
      case 'deleteApplication':
        await this.engine.endSession(session, 'terminated');
        return { ok: true };
      case 'makeMeAvailable': {
        if (app.available) return refusal(409, 'Conflict', 'AlreadyExists', 'makeMeAvailable was already called for this application.');
        const modalities = op.modalities ?? ['Messaging'];
        const bad = modalities.find((m) => !/^(messaging|phoneaudio)$/i.test(m));
        if (bad !== undefined) return refusal(403, 'Forbidden', 'ModalityNotSupported', `The modality ${bad} is not supported (Messaging only).`);
        app.available = true;
        app.modalities = ['Messaging'];
        if (op.formats && op.formats.length > 0) {
          const formats = ['Plain', 'Html'].filter((f) => op.formats!.some((g) => g.toLowerCase() === f.toLowerCase()));
          if (formats.length > 0) app.formats = formats;
        }
        const signInAs = op.signInAs === undefined ? undefined : PUBLISHED_AVAILABILITY[op.signInAs.toLowerCase()];
        if (op.signInAs !== undefined && signInAs === undefined) return badAvailability(op.signInAs);
        app.etag += 1;
        session.ringable = true;
        this.engine.touch(session, true);
        await this.append(app, [...this.translator.meAvailable(app), ...this.translator.communicationUpdated(app)]);
        // The application becomes an active endpoint of its user (as CWA watchers see it), in the state asked for.
        const categories = [machineStateCategory(true), ...(signInAs !== undefined ? [userStateCategory(signInAs)] : [])];
        const answer = await this.engine.execute(ctx, { kind: 'publishSelfPresence', rid: this.state.nextRid(app), categories });
        await this.engine.endBatch();
        return engineRefusal(answer) ?? { ok: true };
      }
      case 'setPresence': {
        if (!app.available) return makeMeAvailableFirst();
        const availability = PUBLISHED_AVAILABILITY[op.availability.toLowerCase()];
        if (availability === undefined) return badAvailability(op.availability);
        const answer = await this.engine.execute(ctx, { kind: 'publishSelfPresence', rid: this.state.nextRid(app), categories: [userStateCategory(availability)] });
        await this.engine.endBatch();
        return engineRefusal(answer) ?? { ok: true };
      }
      case 'setNote': {
        if (!app.available) return makeMeAvailableFirst();
        if (op.message.length > MAX_NOTE_LENGTH) return refusal(400, 'BadRequest', 'ParameterValidationFailure', `The note is longer than ${MAX_NOTE_LENGTH} characters.`);
        const answer = await this.engine.execute(ctx, { kind: 'publishSelfPresence', rid: this.state.nextRid(app), categories: [noteCategory(op.message)] });
        await this.engine.endBatch();
        return engineRefusal(answer) ?? { ok: true };
      }
      case 'subscribePresence':
      case 'addToSubscription': {
        const uris: string[] = [];
        for (const raw of op.uris) {
          const uri = normalizeUri(raw.replace(/^["\s]+|["\s]+$/g, ''));
          if (!SIP_URI.test(uri)) return refusal(400, 'BadRequest', 'ParameterValidationFailure', `"${raw}" is not a SIP URI (sip:user@domain).`);
          if (!uris.some((u) => sameUri(u, uri))) uris.push(canonicalUri(uri));
        }
        if (uris.length === 0) return refusal(400, 'BadRequest', 'ParameterValidationFailure', 'Name at least one person in uris.');
        let sub: UcwaSubscription | undefined;
        if (op.kind === 'addToSubscription') {
          sub = app.presence.subscriptions.get(op.id);
          if (!sub) return notFound('The presence subscription');
        }
        const before = subscribedKeys(app);
        const adding = uris.filter((u) => !(sub?.uris ?? []).some((v) => sameUri(u, v)));
        const total = new Set([...before, ...adding.map((u) => u.toLowerCase())]).size;
        const max = this.engine.config.userData?.maxContacts ?? USER_DATA_DEFAULTS.maxContacts;
        if (total > max) return refusal(403, 'Forbidden', 'LimitExceeded', `An application may follow the presence of at most ${max} people.`);
        if (op.kind === 'subscribePresence') {
          const duration = Math.min(MAX_SUBSCRIPTION_MINUTES, Math.max(MIN_SUBSCRIPTION_MINUTES, Math.round(op.duration ?? MAX_SUBSCRIPTION_MINUTES)));
          sub = { id: String(app.presence.nextSubscription++), duration, expires: this.state.now + duration * 60_000, uris: [] };
          app.presence.subscriptions.set(sub.id, sub);
        }
        sub!.uris.push(...adding);
        const fresh = adding.filter((u) => !before.has(u.toLowerCase()));
        if (fresh.length > 0) {
          const answer = await this.engine.execute(ctx, { kind: 'subscribePresence', rid: this.state.nextRid(app), uris: fresh });
          const refused = engineRefusal(answer);
          if (refused) {
            if (op.kind === 'subscribePresence') app.presence.subscriptions.delete(sub!.id);
            else sub!.uris = sub!.uris.filter((u) => !adding.includes(u));
            return refused;
          }
          await this.engine.endBatch();
        }
        return { ok: true, id: sub!.id, location: subscriptionHref(app, sub!.id) };
      }
      case 'unsubscribePresence': {
        const sub = app.presence.subscriptions.get(op.id);
        if (!sub) return notFound('The presence subscription');
        await this.dropSubscription(app, sub);
        return { ok: true };
      }
      case 'reportMyActivity':
        if (!app.available) return refusal(409, 'Conflict', 'MakeMeAvailableRequired', 'Call makeMeAvailable first.');
        this.engine.touch(session, true);
        return { ok: true };
      case 'eventsAnswered':
        this.engine.touch(session);
        return this.eventsAnswered(app, op);
      case 'startMessaging': {
        const to = normalizeUri(op.to);
        if (!SIP_URI.test(to)) return refusal(400, 'BadRequest', 'ParameterValidationFailure', `"${op.to}" is not a SIP URI (sip:user@domain).`);
        const importance = IMPORTANCE.find((i) => i.toLowerCase() === (op.importance ?? 'normal').toLowerCase()) ?? 'Normal';
        return this.startConversation(app, run, [to], { importance, subject: op.subject ?? '', threadId: op.threadId ?? this.state.hex(16), operationId: op.operationId, message: op.message });
      }
      case 'addMessaging': {
        // A conversation whose messaging ended (and which the gateway then deleted): messaging starts again with the same people, under the same id.
        const live = app.conversations.get(op.conv);
        if (live) return wrongState(`Messaging is ${live.messaging}: addMessaging starts it again once it is Disconnected.`);
        const past = app.past?.get(op.conv);
        if (!past) return notFound('The conversation');
        const started = await this.startConversation(app, run, past.remotes, { importance: past.importance, subject: past.subject, threadId: past.threadId, operationId: op.operationId, message: op.message }, past.id);
        if (started.ok) app.past!.delete(past.id);
        return started;
      }
      case 'accept':
      case 'decline': {
        const c = [...app.conversations.values()].find((x) => x.invitationId === op.invitation);
        if (!c) return notFound('The invitation');
        if (c.direction !== 'Incoming' || c.invitationState !== 'Connecting' || c.confId === undefined) {
          return wrongState(`The invitation is ${c.invitationState}, not waiting for an answer.`);
        }
        if (op.kind === 'decline') c.declined = true;
        const refused = engineRefusal(await run({ type: op.kind === 'accept' ? 'acceptImSession' : 'terminateImSession' }, c.confId));
        await this.engine.endBatch();
        return refused ?? { ok: true };
      }
      case 'sendMessage': {
        const c = app.conversations.get(op.conv);
        if (!c || c.confId === undefined) return notFound('The conversation');
        if (c.messaging !== 'Connected') return wrongState(`Messaging is ${c.messaging}: messages can be sent once it is Connected.`);
        if (op.message.text.length === 0) return refusal(400, 'BadRequest', 'ParameterValidationFailure', 'The message is empty.');
        const max = this.engine.config.maxMessageLength;
        if (op.message.text.length > max) return refusal(413, 'EntityTooLarge', 'None', `The message is longer than ${max} characters.`);
        const n = c.nextMessage++;
        c.messages.push({ n, direction: 'Outgoing', status: 'Pending', at: this.state.now, ...(op.operationId !== undefined ? { operationId: op.operationId } : {}) });
        const rid = this.state.nextRid(app);
        app.ops.set(rid, { kind: 'send', conv: c.id, n });
        const refused = engineRefusal(await run({ type: 'sendMessage', message: engineMessage(op.message) }, c.confId, rid));
        if (refused) {
          app.ops.delete(rid);
          c.messages = c.messages.filter((m) => m.n !== n);
          return refused;
        }
        await this.engine.endBatch();
        return { ok: true, location: new Hrefs(app.sid).message(c, n) };
      }
      case 'setIsTyping': {
        const c = app.conversations.get(op.conv);
        if (!c || c.confId === undefined) return notFound('The conversation');
        if (c.messaging !== 'Connected') return wrongState(`Messaging is ${c.messaging}: typing can be shown once it is Connected.`);
        return engineRefusal(await run({ type: 'notifyComposing', state: 'composing' }, c.confId)) ?? { ok: true };
      }
      case 'stopMessaging': {
        const c = app.conversations.get(op.conv);
        if (!c || c.confId === undefined) return notFound('The conversation');
        if (c.direction === 'Incoming' && c.invitationState === 'Connecting') c.declined = true;
        const refused = engineRefusal(await run({ type: 'terminateImSession' }, c.confId));
        await this.engine.endBatch();
        return refused ?? { ok: true };
      }
      case 'addParticipant': {
        const c = app.conversations.get(op.conv);
        if (!c || c.confId === undefined) return notFound('The conversation');
        if (c.messaging !== 'Connected') return wrongState('Participants can be added once the conversation is connected.');
        const to = normalizeUri(op.to);
        if (!SIP_URI.test(to)) return refusal(400, 'BadRequest', 'ParameterValidationFailure', `"${op.to}" is not a SIP URI (sip:user@domain).`);
        const inv = { id: this.state.hex(16), to, state: 'Connecting' as const, ...(op.operationId !== undefined ? { operationId: op.operationId } : {}) };
        c.participantInvitations.push(inv);
        const rid = this.state.nextRid(app);
        app.ops.set(rid, { kind: 'addParticipant', conv: c.id, inv: inv.id });
        const refused = engineRefusal(await run({ type: 'inviteParticipants', uris: [to] }, c.confId, rid));
        if (refused) {
          c.participantInvitations = c.participantInvitations.filter((i) => i !== inv);
          app.ops.delete(rid);
          return refused;
        }
        await this.append(app, [this.participantInvitationStarted(app, c, inv.id)]);
        await this.engine.endBatch();
        return { ok: true, location: new Hrefs(app.sid).participantInvitation(inv.id) };
      }
    }
  }

  /** Ends the subscriptions whose time is up (the `tick` command). Must run inside the engine's `exclusive`. */
  async expireSubscriptions(): Promise<void> {
    const now = this.state.now;
    for (const app of this.state.apps.values()) {
      if (app.ended) continue;
      for (const sub of [...app.presence.subscriptions.values()]) if (sub.expires <= now) await this.dropSubscription(app, sub);
    }
  }

  /** Removes a subscription: the people no other subscription of the application names are no longer watched. */
  private async dropSubscription(app: UcwaApp, sub: UcwaSubscription): Promise<void> {
    app.presence.subscriptions.delete(sub.id);
    const still = subscribedKeys(app);
    const gone = sub.uris.filter((u) => !still.has(u.toLowerCase()));
    for (const u of gone) app.presence.seen.delete(u.toLowerCase());
    const session = this.engine.sessionFor(app.login, app.sid);
    if (gone.length === 0 || !session) return;
    await this.engine.execute({ login: app.login, session }, { kind: 'unsubscribePresence', rid: this.state.nextRid(app), uris: gone });
    await this.engine.endBatch();
  }

  private participantInvitationStarted(app: UcwaApp, c: UcwaConversation, id: string) {
    const h = new Hrefs(app.sid);
    return { sender: { rel: 'communication', href: h.communication }, type: 'started' as const, link: { rel: 'participantInvitation', href: h.participantInvitation(id) } };
  }

  private async append(app: UcwaApp, events: ReturnType<UcwaTranslator['communicationUpdated']>): Promise<void> {
    await this.log.append(app.sid, events.map(ucwaRecord));
  }

  /** Records which events response `n` carried, and the sticky P-GET parameters. */
  private eventsAnswered(app: UcwaApp, op: Extract<UcwaOp, { kind: 'eventsAnswered' }>): UcwaResult {
    const sticky = { ...app.channel.sticky, ...op.sticky };
    app.channel = { next: op.n + 1, answered: { n: op.n, from: op.from, upTo: op.upTo }, ...(Object.keys(sticky).length > 0 ? { sticky } : {}) };
    return { ok: true };
  }

  /** startMessaging and addMessaging: a new outgoing conversation (`again`: the id of the one it restarts) and its invitation. */
  private async startConversation(
    app: UcwaApp,
    run: (action: ConferenceAction, confId: number, rid?: string) => Promise<ResponseItem>,
    to: string[],
    o: { importance: string; subject: string; threadId: string; operationId?: string | null | undefined; message?: FirstMessage | undefined },
    again?: string,
  ): Promise<UcwaResult> {
    const me = { uri: app.uri, name: app.name };
    const c = this.state.newConversation(app, {
      direction: 'Outgoing',
      invitationState: 'Connecting',
      ...(o.operationId !== undefined ? { operationId: o.operationId } : {}),
      subject: o.subject,
      importance: o.importance,
      threadId: o.threadId,
      to: to[0]!,
      inviter: me,
      ...(o.message ? { firstMessage: o.message.type === 'text/html' ? { html: o.message.text } : { plain: o.message.text } } : {}),
      state: 'Connecting',
      messaging: 'Connecting',
      conference: false,
    }, again);
    const rid = this.state.nextRid(app);
    app.ops.set(rid, { kind: 'start', conv: c.id });
    const answer = await run(
      { type: 'initiateImSession', uris: to, ...(o.message ? { message: engineMessage(o.message) } : {}), ...(o.subject ? { subject: o.subject } : {}) },
      0,
      rid,
    );
    const refused = engineRefusal(answer);
    if (refused) {
      app.conversations.delete(c.id);
      app.ops.delete(rid);
      return refused;
    }
    await this.engine.endBatch();
    return { ok: true, location: new Hrefs(app.sid).invitation(c) };
  }

  private async createApplication(login: string, op: Extract<UcwaOp, { kind: 'createApplication' }>): Promise<UcwaResult> {
    const existing = this.state.byEndpoint.get(this.state.endpointKey(login, op.endpointId));
    if (existing !== undefined && this.engine.sessionFor(login, existing)) {
      this.engine.touch(this.engine.sessionFor(login, existing)!);
      return { ok: true, app: existing };
    }
    const ctx: CommandContext = { login };
    const answer = await this.engine.execute(ctx, {
      kind: 'initiateSession',
      rid: 'ucwa',
      options: { autoPublishMachineState: false, autoSubscribePresenceForContacts: false },
      dialect: 'ucwa',
    });
    if (answer.type !== 'requestAccepted' || !answer.session || !ctx.session) {
      if (answer.type === 'requestFailed' || answer.type === 'requestInvalid') return { ok: false, ...ucwaRefusalOf(answer.error) };
      return refusal(500, 'ServiceFailure', 'None', 'The application could not be created.');
    }
    const user = ctx.session.user;
    const g = this.state.hex(16);
    this.state.register({
      sid: answer.session.sid,
      login,
      uri: user.uri,
      name: user.displayName ?? user.login,
      endpointId: op.endpointId,
      culture: op.culture,
      userAgent: op.userAgent,
      ...(op.instanceId !== undefined ? { instanceId: op.instanceId } : {}),
      available: false,
      modalities: [],
      formats: ['Plain'],
      putName: `${g.slice(0, 8)}-${g.slice(8, 12)}-${g.slice(12, 16)}-${g.slice(16, 20)}-${g.slice(20)}`,
      etag: 1,
      channel: { next: 1 },
      conversations: new Map(),
      byConfId: new Map(),
      ops: new Map(),
      nextRid: 1,
      presence: { seen: new Map(), subscriptions: new Map(), nextSubscription: 1 },
    });
    return { ok: true, app: answer.session.sid };
  }
}
