// How the transports change the gateway's state: through a Coordinator, never by calling
// the engine's mutating methods themselves. A single gateway applies each change at once
// (LocalCoordinator); gateways sharing Redis append it to the shared command stream and
// answer once their own node has applied it (RedisCoordinator). Reads (is this session
// mine? what is in its log?) go to the local state; a node that may be behind the others
// first catches up (`sync`) when a read misses.
import type { CachedResponse } from '../delivery/rid-cache.js';
import type { TicketCheck } from '../engine/tickets.js';
import type { SignOutResult } from '../engine/engine.js';
import type { Session } from '../engine/session.js';
import type { DoorName, TypedBatch } from './commands.js';
import type { GatewayState } from './state.js';
import type { UcwaOp, UcwaResult } from '../protocol/ucwa/operations.js';

export interface BatchCommand {
  login: string;
  batch: TypedBatch;
  /** The door that renders the answer (CWA when absent). */
  door?: DoorName;
  /**
   * Duplicate detection: the session (or ticket) the batch belongs to, its rids (joined
   * with NUL), and the text it came as (a retry has the same rids and the same text).
   */
  scope?: string;
  key?: string;
  body?: string;
}

export interface Coordinator {
  /** Issues a ticket for a user the caller has authenticated. */
  issueTicket(login: string): Promise<string>;
  /**
   * Validates a presented ticket, records its use, and offers a successor when it is old.
   * A single gateway answers at once (no promise), so that a request does not wait a turn for it.
   */
  checkTicket(presented: string | undefined): TicketCheck | undefined | Promise<TicketCheck | undefined>;
  /** Revokes every ticket of `login` and ends its sessions. */
  signOut(login: string): Promise<SignOutResult>;
  /** Runs a batch; a single gateway answers at once (no promise) when the batch runs synchronously. */
  runBatch(cmd: BatchCommand): CachedResponse | Promise<CachedResponse>;
  /** An operation of a UCWA application (the UCWA door's changes). */
  runUcwa(login: string, op: UcwaOp): Promise<UcwaResult>;
  /** A poll or WebSocket of the session arrived or reported UA (a single gateway: at once, no promise). */
  touch(session: Session, ua?: boolean): void | Promise<void>;
  /** Resolves once this node has applied every change committed anywhere before the call (a single gateway: nothing to wait for). */
  sync(): void | Promise<void>;
  /** Runs the engine's timers once. */
  tick(): Promise<void>;
  /** False while the shared state cannot be reached (requests answer 503). */
  available(): boolean;
  /** The state this node serves from (it changes only when a cluster starts over, see RedisCoordinator). */
  readonly state: GatewayState;
}

/** One gateway process: changes apply at once, in the engine's command order. */
export class LocalCoordinator implements Coordinator {
  constructor(readonly state: GatewayState) {}

  async issueTicket(login: string): Promise<string> {
    return this.state.engine.tickets.issue(login);
  }

  checkTicket(presented: string | undefined): TicketCheck | undefined {
    return this.state.engine.checkTicket(presented);
  }

  runBatch(cmd: BatchCommand): CachedResponse | Promise<CachedResponse> {
    return this.state.apply({ t: 'batch', ...cmd }) as CachedResponse | Promise<CachedResponse>;
  }

  async signOut(login: string): Promise<SignOutResult> {
    return (await this.state.apply({ t: 'signOut', login })) as SignOutResult;
  }

  async runUcwa(login: string, op: UcwaOp): Promise<UcwaResult> {
    return (await this.state.apply({ t: 'ucwa', login, op })) as UcwaResult;
  }

  touch(session: Session, ua?: boolean): void {
    this.state.engine.touch(session, ua);
  }

  sync(): void {}

  async tick(): Promise<void> {
    await this.state.apply({ t: 'tick' });
  }

  available(): boolean {
    return true;
  }
}
