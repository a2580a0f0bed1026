// What the UCWA door keeps per application, beside the engine session the application
// is: its conversations (UCWA ids <-> the session's confIds), invitation and message
// ids, operationIds, pending operations by rid, and the event channel's ack numbering.
// It changes only while a command is applied (cluster/state.ts: UCWA commands, and the
// engine's events rendered by the event sink), so every node of a cluster computes the
// same ids in the same order; random ids come from the engine's random source, which a
// cluster seeds per command.
import type { Clock } from '../../engine/clock.js';
import type { RandomSource } from '../../engine/random.js';
import type { ErrorBody } from './resource.js';

export type Dialect = 'cwa' | 'ucwa';

export const UCWA_BASE = '/ucwa/oauth/v1/applications';

export interface UcwaParticipant {
  uri: string;
  name: string;
}

export interface UcwaMessage {
  n: number;
  direction: 'Incoming' | 'Outgoing';
  status: 'Pending' | 'Succeeded' | 'Failed';
  at: number;
  /** Sender (incoming). */
  from?: string;
  plain?: string;
  html?: string;
  operationId?: string | null;
  reason?: ErrorBody;
}

export interface UcwaParticipantInvitation {
  id: string;
  to: string;
  operationId?: string | null;
  state: 'Connecting' | 'Connected' | 'Failed';
}

export interface UcwaConversation {
  id: string;
  confId?: number;
  invitationId: string;
  direction: 'Incoming' | 'Outgoing';
  invitationState: 'Connecting' | 'Connected' | 'Failed' | 'Declined';
  /** As the client sent it (null and odd values are echoed as given). */
  operationId?: string | null;
  subject: string;
  importance: string;
  threadId: string;
  /** The callee (outgoing) or the local user (incoming). */
  to: string;
  inviter: UcwaParticipant;
  firstMessage?: { plain?: string; html?: string };
  state: 'Connecting' | 'Incoming' | 'Connected' | 'Conferenced' | 'Disconnected';
  messaging: 'Connecting' | 'Connected' | 'Disconnected';
  conference: boolean;
  participants: UcwaParticipant[];
  typing: string[];
  messages: UcwaMessage[];
  nextMessage: number;
  participantInvitations: UcwaParticipantInvitation[];
  createdAt: number;
  failure?: ErrorBody;
  declined?: boolean;
}

/** A conversation whose messaging ended (the conversation was deleted): what addMessaging needs to start it again (§7.5). */
export interface PastConversation {
  id: string;
  /** The other participants when it ended (the callee or inviter when nobody had joined). */
  remotes: string[];
  subject: string;
  importance: string;
  threadId: string;
}

/** Ended conversations an application can restart with addMessaging (the most recent ones). */
export const PAST_CONVERSATIONS_KEPT = 16;

export type PendingOp =
  | { kind: 'start'; conv: string }
  | { kind: 'send'; conv: string; n: number }
  | { kind: 'addParticipant'; conv: string; inv: string };

/** A presence subscription of the application (people/presenceSubscriptions). */
export interface UcwaSubscription {
  id: string;
  /** Minutes, as granted. */
  duration: number;
  /** When it ends unless the client refreshes it (ms). */
  expires: number;
  /** Canonical SIP URIs, in the order first given. */
  uris: string[];
}

/** What the application knows of presence: its own, what it last told of others, its subscriptions. */
export interface UcwaPresence {
  /** The user's own availability and note as last told (undefined before the first). */
  self?: { availability: string; note: string };
  /** Per subscribed user (lower-case URI): what the last contactPresence/contactNote events said. */
  seen: Map<string, { availability: string; note: string }>;
  subscriptions: Map<string, UcwaSubscription>;
  nextSubscription: number;
}

/** The sticky P-GET parameters (§4.1): remembered until the client sends them again. */
export interface StickyParams {
  /** Seconds (180–1800 as given; the hold is also bounded by --hold-ms). */
  timeout?: number;
  /** Batching intervals of medium- and low-priority events, seconds (5–1800): remembered, not needed (every event releases a P-GET at once). */
  medium?: number;
  low?: number;
}

export interface EventChannel {
  /** The ack number the next fresh response gets. */
  next: number;
  /** The last response given: its number and the events (eids) it carried, after `from` up to `upTo`. */
  answered?: { n: number; from: number; upTo: number };
  sticky?: StickyParams;
}

export interface UcwaApp {
  sid: number;
  login: string;
  uri: string;
  name: string;
  endpointId: string;
  culture: string;
  userAgent: string;
  instanceId?: string;
  available: boolean;
  modalities: string[];
  formats: string[];
  /** The client's PUT-me property name (communication resource), stable per application. */
  putName: string;
  etag: number;
  ended?: 'expired' | 'deleted';
  channel: EventChannel;
  conversations: Map<string, UcwaConversation>;
  byConfId: Map<number, string>;
  ops: Map<string, PendingOp>;
  nextRid: number;
  presence: UcwaPresence;
  /** Ended conversations addMessaging may restart, oldest first (at most PAST_CONVERSATIONS_KEPT). */
  past?: Map<string, PastConversation>;
}

/** Most messages of a conversation kept for GET (older ones answer 404). */
export const MESSAGES_KEPT = 100;

export class UcwaState {
  readonly apps = new Map<number, UcwaApp>();
  /** `<login>\n<endpointId>` -> sid: an endpointId names an application per user. */
  readonly byEndpoint = new Map<string, number>();

  constructor(
    private readonly clockOf: () => Clock,
    private readonly randomOf: () => RandomSource,
  ) {}

  get now(): number {
    return this.clockOf().now();
  }

  hex(bytes: number): string {
    return this.randomOf().bytes(bytes).toString('hex');
  }

  /** The live or ended application `sid` if `login` owns it. */
  appOf(login: string, sid: number): UcwaApp | undefined {
    const app = this.apps.get(sid);
    return app && app.login === login ? app : undefined;
  }

  endpointKey(login: string, endpointId: string): string {
    return `${login}\n${endpointId.toLowerCase()}`;
  }

  register(app: UcwaApp): void {
    this.apps.set(app.sid, app);
    this.byEndpoint.set(this.endpointKey(app.login, app.endpointId), app.sid);
  }

  /** The engine ended the session: the application is gone (deleted) or expired. */
  ended(sid: number, how: 'expired' | 'deleted'): void {
    const app = this.apps.get(sid);
    if (!app || app.ended) return;
    app.ended = how;
    const key = this.endpointKey(app.login, app.endpointId);
    if (this.byEndpoint.get(key) === sid) this.byEndpoint.delete(key);
  }

  /** The engine forgot the session: so does the door. */
  removed(sid: number): void {
    this.ended(sid, 'deleted');
    this.apps.delete(sid);
  }

  newConversation(app: UcwaApp, init: Omit<UcwaConversation, 'id' | 'invitationId' | 'participants' | 'typing' | 'messages' | 'nextMessage' | 'participantInvitations' | 'createdAt'>, again?: string): UcwaConversation {
    let id: string;
    if (again !== undefined && !app.conversations.has(again)) id = again;
    else do id = this.hex(2); while (app.conversations.has(id) || app.past?.has(id));
    const conv: UcwaConversation = {
      ...init,
      id,
      invitationId: this.hex(16),
      participants: [],
      typing: [],
      messages: [],
      nextMessage: 1,
      participantInvitations: [],
      createdAt: this.now,
    };
    app.conversations.set(id, conv);
    if (conv.confId !== undefined) app.byConfId.set(conv.confId, id);
    return conv;
  }

  dropConversation(app: UcwaApp, conv: UcwaConversation): void {
    app.conversations.delete(conv.id);
    const remotes = conv.participants.length > 0 ? conv.participants.map((p) => p.uri) : [conv.direction === 'Outgoing' ? conv.to : conv.inviter.uri];
    const past = (app.past ??= new Map());
    past.delete(conv.id);
    past.set(conv.id, { id: conv.id, remotes, subject: conv.subject, importance: conv.importance, threadId: conv.threadId });
    while (past.size > PAST_CONVERSATIONS_KEPT) past.delete(past.keys().next().value!);
    if (conv.confId !== undefined && app.byConfId.get(conv.confId) === conv.id) app.byConfId.delete(conv.confId);
    for (const [rid, op] of [...app.ops]) if (op.conv === conv.id) app.ops.delete(rid);
  }

  nextRid(app: UcwaApp): string {
    return `ucwa-${app.nextRid++}`;
  }

  /** Everything above as plain data (Maps kept), for a cluster snapshot (cluster/snapshot.ts). */
  exportState(): UcwaStateData {
    return { apps: [...this.apps.values()], byEndpoint: [...this.byEndpoint] };
  }

  /** Replaces the state with a snapshot's. */
  importState(data: UcwaStateData): void {
    this.apps.clear();
    this.byEndpoint.clear();
    for (const app of data.apps) this.apps.set(app.sid, app);
    for (const [key, sid] of data.byEndpoint) this.byEndpoint.set(key, sid);
  }
}

/** The UCWA state as a snapshot holds it: the applications (ended ones too) and the endpointId index. */
export interface UcwaStateData {
  apps: UcwaApp[];
  byEndpoint: [string, number][];
}

/** Every URI the application's subscriptions name (lower case). */
export function subscribedKeys(app: UcwaApp): Set<string> {
  const keys = new Set<string>();
  for (const sub of app.presence.subscriptions.values()) for (const u of sub.uris) keys.add(u.toLowerCase());
  return keys;
}

/** `alice@example.com` from `sip:alice@example.com` (participant and people ids). */
export function userPart(uri: string): string {
  return uri.replace(/^sip:/i, '');
}

export function sameUri(a: string, b: string): boolean {
  return userPart(a).toLowerCase() === userPart(b).toLowerCase();
}

/** The hrefs of dialect A (§0), all relative. */
export class Hrefs {
  readonly app: string;
  constructor(sid: number) {
    this.app = `${UCWA_BASE}/${sid}`;
  }
  get me() { return `${this.app}/me`; }
  get people() { return `${this.app}/people`; }
  get communication() { return `${this.app}/communication`; }
  get onlineMeetings() { return `${this.app}/onlineMeetings`; }
  events(ack: number) { return `${this.app}/events?ack=${ack}`; }
  person(uri: string) { return `${this.app}/people/${userPart(uri)}`; }
  invitation(c: UcwaConversation) { return `${this.app}/communication/messagingInvitations/${c.invitationId}`; }
  conversation(c: UcwaConversation) { return `${this.app}/communication/conversations/${c.id}`; }
  messaging(c: UcwaConversation) { return `${this.conversation(c)}/messaging`; }
  participant(c: UcwaConversation, uri: string) { return `${this.conversation(c)}/participants/${userPart(uri)}`; }
  message(c: UcwaConversation, n: number) { return `${this.messaging(c)}/messages/${n}`; }
  participantInvitation(id: string) { return `${this.app}/communication/participantInvitations/${id}`; }
}
