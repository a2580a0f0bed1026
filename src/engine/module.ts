// How a domain area (IM conversations, presence, contacts …) plugs into the engine:
// it sees the engine through EngineCore, and the engine calls its hooks at session
// start and end and on every tick. Hooks run inside the engine's command mutex.
import type { Clock } from './clock.js';
import type { RandomSource } from './random.js';
import type { EngineConfig } from './config.js';
import type { Delivery, Directory } from './ports.js';
import type { Session } from './session.js';

export interface EngineCore {
  readonly clock: Clock;
  readonly config: EngineConfig;
  readonly directory: Directory;
  /** Unguessable values (focus URIs, conversation ids). */
  readonly random: RandomSource;
  /** Queues events (per-session order kept); sessions whose log overflows are ended. */
  deliver(out: Delivery[]): Promise<void>;
  /** True when the session's unacknowledged events passed the high-water mark (IM messages to it are refused). */
  backlogged(sid: number): Promise<boolean>;
  /** The live sessions of a user (by login). */
  sessionsOf(login: string): Session[];
  /** True when `ownerUri` has put `otherUri` in its Blocked container. */
  blocks(ownerUri: string, otherUri: string): Promise<boolean>;
}

export interface EngineModule {
  /** Adds the module's initial events of a new session to `out` (after configuration). */
  onSessionStart?(session: Session, out: Delivery[]): Promise<void> | void;
  /** The session is ending: release what it holds, tell others (its own log is closing). */
  onSessionEnd?(session: Session, out: Delivery[]): Promise<void> | void;
  /** A command batch has been executed: finish what it started (e.g. an escalation). */
  afterBatch?(out: Delivery[]): Promise<void> | void;
  /** Called about once a second with the engine's time. */
  tick?(now: number, out: Delivery[]): Promise<void> | void;
}
