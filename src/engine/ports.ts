// What the engine needs from the layers below it: a place to queue events and a
// user directory. Both are interfaces so other implementations drop in.
import type { UserRecord } from '../users/directory.js';
import type { CwaEvent } from './types.js';

export interface Delivery {
  sid: number;
  event: CwaEvent;
  /**
   * A confirmation (messageIdReceived) of events queued for these sessions in the same
   * delivery: when one of their logs overflows on them, `instead` is queued in its place.
   */
  unlessOverflowed?: { sids: number[]; instead: CwaEvent };
}

/** A session's unacknowledged events. */
export interface Backlog {
  events: number;
  bytes: number;
}

export interface EventSink {
  openSession(sid: number): Promise<void>;
  /**
   * Queues events, keeping their order per session (each session's share of one call
   * is appended atomically). Resolves with the sids whose logs overflowed and were closed.
   */
  deliver(items: Delivery[]): Promise<number[]>;
  /** The session's unacknowledged events (undefined for an unknown log, or a sink that cannot tell). */
  backlog?(sid: number): Promise<Backlog | undefined>;
  /** Ends a session's log with a terminal event; it stays readable until removed. */
  closeSession(sid: number, terminal: CwaEvent): Promise<void>;
  removeSession(sid: number): Promise<void>;
}

/** A user of the directory (the user store's record; it carries no credentials). */
export type DirectoryUser = UserRecord;

export interface Directory {
  findByUri(uri: string): DirectoryUser | undefined;
  findByLogonName(name: string): DirectoryUser | undefined;
  /** Every user (directory search, enterprise domains). */
  all(): DirectoryUser[];
  authenticate(user: string, password: string): Promise<DirectoryUser | null>;
}
