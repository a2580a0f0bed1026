// The changes a gateway's state goes through, as data. A single gateway applies each one
// at once; gateways sharing Redis append them to one ordered stream and every node
// applies the whole stream in order (see redis-coordinator.ts), so each node's state is
// the same function of the same commands.
import type { UcwaOp } from '../protocol/ucwa/operations.js';
import type { CwaRequest, Outcome } from '../engine/types.js';

/** The door a batch came through: it renders the batch's typed answer (see GatewayState). */
export type DoorName = 'cwa' | (string & {});

/** One request of a batch as its door decoded it: a typed request, or what the door refused it with. */
export type TypedBatchItem =
  | { status: 'ok'; request: CwaRequest }
  | { status: 'invalid' | 'unknown'; rid: string; name: string; error: Outcome };

/** A batch of typed requests, in order, and the session it names (`sid`), if any. */
export interface TypedBatch {
  sid?: number;
  items: TypedBatchItem[];
}

export type Command =
  /** A user signed in (the proposing node checked the password and drew the ticket): keep its hash. */
  | { t: 'logon'; login: string; ticketHash: string }
  /** A ticket past half its age was used: offer the one hashed `to` (drawn by the proposing node) as its successor. */
  | { t: 'rotate'; from: string; to: string }
  /** A ticket was used (its lifetime slides; a successor's first use retires its predecessor), by hash. */
  | { t: 'renew'; hash: string }
  /** Every ticket of the user revoked and every session of it ended (sign-out everywhere). */
  | { t: 'signOut'; login: string }
  /**
   * A batch of typed requests from a door (CWA when `door` is absent), which renders the answer;
   * `scope`/`key`/`body` identify a retried batch (rid cache): the session or ticket, the rids,
   * and the batch's text (on a single gateway) or its SHA-1 (on the shared stream).
   */
  | { t: 'batch'; login: string; batch: TypedBatch; door?: DoorName; scope?: string; key?: string; body?: string }
  /** A poll or WebSocket of the session shows activity (UA as reported, when given). */
  | { t: 'touch'; login: string; sid: number; ua?: boolean }
  /** Clients acknowledged every event <= ackId of these sessions ([sid, ackId] pairs). */
  | { t: 'ack'; acks: [number, number][] }
  /** Timers: idle sessions, unanswered invitations, composing, old tickets and logs. */
  | { t: 'tick' }
  /** An operation of a UCWA application of `login` (create, makeMeAvailable, startMessaging …), typed. */
  | { t: 'ucwa'; login: string; op: UcwaOp };

/** A command as it travels: who proposed it, when, and the seed of its random values. */
export interface Envelope {
  c: Command;
  /** `<node id>:<n>`: the proposing node finds its own commands' results by it. */
  o: string;
  /** The proposer's clock: the time every node applies the command at. */
  now: number;
  /** 16 random bytes (hex) every node derives the command's unguessable values from. */
  seed: string;
}

/** The batch as a command carries it: typed requests, without what the door parsed them from. */
export function portableBatch(batch: TypedBatch): TypedBatch {
  return {
    ...(batch.sid !== undefined ? { sid: batch.sid } : {}),
    items: batch.items.map((i): TypedBatchItem => (i.status === 'ok' ? { status: 'ok', request: i.request } : i)),
  };
}
