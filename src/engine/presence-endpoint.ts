// A signed-in session as presence sees it: an endpoint publishing machine state, and a
// watcher with its subscriptions. Shared by presence.ts and raw-categories.ts.
import type { Session } from './session.js';

/**
 * One signed-in session as a presence endpoint and a watcher. Its collections are made on
 * first use: most sessions subscribe to no one and ask for no raw category, and an empty
 * Map or Set costs about 170 bytes of heap, per session, for as long as the session lives.
 */
export interface Endpoint {
  session: Session;
  /** Last time `UA=true` (or the session start) showed the user active. */
  lastActive: number;
  /** A machine state the session published itself; wins until the next `UA=true`. */
  explicitMachine?: number;
  machine: number;
  /** Session subscriptions (subscribePresence), by user key. */
  explicit?: Set<string>;
  /** Subscriptions that follow the contact list (autoSubscribePresenceForContacts). */
  fromContacts?: Set<string>;
  /** Signature of the last userPresence / userRawCategories sent, per watched user. */
  lastSent?: Map<string, string>;
  lastRawSent?: Map<string, string>;
  lastSelf?: string;
  /** The raw categories the session asked for (none: undefined). */
  rawFilter?: Set<string>;
}
