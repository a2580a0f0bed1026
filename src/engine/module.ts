// How a domain area (IM conversations, presence, contacts …) plugs into the engine:
// it sees the engine through EngineCore, declares the request kinds it handles (the
// engine routes each kind to the one module that declares it), and the engine calls its
// hooks at session start and end, after a batch and on every tick. Hooks and handlers run
// inside the engine's command mutex.
import type { Clock } from './clock.js';
import type { RandomSource } from './random.js';
import type { EngineConfig } from './config.js';
import type { Delivery, Directory } from './ports.js';
import type { Session } from './session.js';
import type { CwaRequest, ResponseItem } from './types.js';

export type RequestKind = CwaRequest['kind'];
export type RequestOf<K extends RequestKind> = Extract<CwaRequest, { kind: K }>;

/** Every request kind (the compiler keeps the list complete and exact). */
export const REQUEST_KINDS = Object.keys({
  initiateSession: true,
  terminateSession: true,
  conference: true,
  addContact: true,
  updateContact: true,
  deleteContact: true,
  addGroup: true,
  updateGroup: true,
  deleteGroup: true,
  publishSelfPresence: true,
  publishRawCategories: true,
  queryPresence: true,
  subscribePresence: true,
  unsubscribePresence: true,
  updateContainer: true,
  containers: true,
  acknowledgeSubscriber: true,
  search: true,
  unsupported: true,
} satisfies Record<RequestKind, true>) as RequestKind[];

export interface EngineCore {
  readonly clock: Clock;
  readonly config: EngineConfig;
  readonly directory: Directory;
  /** Unguessable values (focus URIs, conversation ids). */
  readonly random: RandomSource;
  /** Queues events (per-session order kept); sessions whose log overflows are ended. At once when nothing has to wait. */
  deliver(out: Delivery[]): void | Promise<void>;
  /** True when the session's unacknowledged events passed the high-water mark (IM messages to it are refused); at once when the logs can tell. */
  backlogged(sid: number): boolean | Promise<boolean>;
  /** The live sessions of a user (by login). */
  sessionsOf(login: string): Session[];
  /** True when `ownerUri` has put `otherUri` in its Blocked container. */
  blocks(ownerUri: string, otherUri: string): Promise<boolean>;
}

export interface EngineModule<K extends RequestKind = RequestKind> {
  /** The module's name in messages (a kind claimed twice, …). */
  readonly name: string;
  /** The request kinds this module handles; each kind is handled by exactly one module. */
  readonly requests?: readonly K[];
  /** Carries out a request of a kind the module declared, in a live session (already touched); at once when nothing has to wait. */
  handle?(session: Session, req: RequestOf<K>): ResponseItem | Promise<ResponseItem>;
  /** Adds the module's initial events of a new session to `out` (after configuration). */
  onSessionStart?(session: Session, out: Delivery[]): Promise<void> | void;
  /** The session is ending: release what it holds, tell others (its own log is closing). */
  onSessionEnd?(session: Session, out: Delivery[]): Promise<void> | void;
  /** A command batch has been executed: finish what it started (e.g. an escalation). */
  afterBatch?(out: Delivery[]): Promise<void> | void;
  /** Called about once a second with the engine's time. */
  tick?(now: number, out: Delivery[]): Promise<void> | void;
}

/** A request kind's handler: the module that declared it. */
export type Routes = Map<RequestKind, EngineModule>;

/**
 * The routing table of `modules`' declarations, with `own` the kinds the engine handles
 * itself (sessions). Throws when a kind is declared twice, by no one, or by a module
 * that cannot handle requests: a module seam that does not add up never starts.
 */
export function routeRequests(modules: readonly EngineModule[], own: { name: string; requests: readonly RequestKind[] }): Routes {
  const routes: Routes = new Map();
  const claimed = new Map<RequestKind, string[]>();
  const claim = (kind: RequestKind, name: string) => claimed.set(kind, [...(claimed.get(kind) ?? []), name]);
  for (const kind of own.requests) claim(kind, own.name);
  for (const m of modules) {
    if (m.requests && m.requests.length > 0 && !m.handle) throw new Error(`engine module ${m.name} declares requests (${m.requests.join(', ')}) but has no handle()`);
    for (const kind of m.requests ?? []) {
      claim(kind, m.name);
      routes.set(kind, m);
    }
  }
  const problems: string[] = [];
  for (const kind of REQUEST_KINDS) {
    const by = claimed.get(kind) ?? [];
    if (by.length === 0) problems.push(`${kind} is handled by no module`);
    else if (by.length > 1) problems.push(`${kind} is handled by ${by.join(' and ')}`);
  }
  for (const kind of claimed.keys()) if (!REQUEST_KINDS.includes(kind)) problems.push(`${kind} is not a request kind`);
  if (problems.length > 0) throw new Error(`engine modules: ${problems.join('; ')}`);
  return routes;
}
