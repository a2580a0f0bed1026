// A CWA session (one `sid`): the signed-in endpoint of one user, its conversations
// keyed by its own confId numbering, and its activity clock.
//
// confIds come from two ranges so that the gateway's choices never take a number a
// client is about to choose itself: a client counting 1, 2, 3 … stays below
// GATEWAY_CONF_IDS_FROM, where the gateway numbers what the client did not number
// (incoming invitations, and a replacement for a requested confId it cannot grant).
import type { DirectoryUser } from './ports.js';
import type { SessionOptions } from './types.js';

/**
 * A session's part in one IM conversation. A session holds its legs by confId and never
 * looks inside them: conversation.ts declares their fields (declaration merging), so this
 * file needs nothing of conversations and conversations depend on sessions, not both ways.
 */
export interface Leg {}

/** confIds above this are the gateway's own choices; a client counting from 1 stays below it. */
export const GATEWAY_CONF_IDS_FROM = 1_000_000;
/** Clients keep confIds in 32-bit signed integers (the Java client does): a larger request is not adopted. */
const MAX_CLIENT_CONF_ID = 2 ** 31 - 1;

export class Session {
  /** Names the class in a cluster snapshot, which keeps data only (cluster/snapshot.ts). */
  readonly snapshotClass = 'Session';
  readonly legs = new Map<number, Leg>();
  /** Highest confId used below GATEWAY_CONF_IDS_FROM (client-chosen, or allocated for confId 0): confId 0 gets the next one. */
  private maxConfId = 0;
  /** Highest confId used from GATEWAY_CONF_IDS_FROM up: the gateway's next choice is above it. */
  private maxGatewayConfId = GATEWAY_CONF_IDS_FROM;
  lastActivity: number;
  /** Last `UA` value reported on the data channel, and when UA=true was last reported. */
  userActive = false;
  userActiveAt = 0;
  ended = false;
  /** The door the session was opened through: its events are rendered in that door's form. */
  dialect: 'cwa' | 'ucwa' = 'cwa';
  /** Whether invitations ring here (a UCWA application only once it called makeMeAvailable). */
  ringable = true;

  constructor(
    readonly sid: number,
    readonly user: DirectoryUser,
    readonly options: SessionOptions,
    /** userStateAvailability of initiateSession, when the client sent one. */
    readonly availability: number | undefined,
    now: number,
  ) {
    this.lastActivity = now;
  }

  /**
   * The confId of a conversation the client starts: its own choice when no conversation of
   * this session holds it now (and it fits a 32-bit signed integer), the next id of the low
   * range for confId 0, and a gateway-range id when the choice cannot be granted. The
   * gateway's own choices never repeat an id; a client may take back an id whose
   * conversation is over (the Java client's counter goes down as conversations end).
   */
  allocateConfId(requested = 0): number {
    if (requested <= 0) return this.maxConfId + 1 < GATEWAY_CONF_IDS_FROM ? ++this.maxConfId : this.gatewayConfId();
    if (!this.legs.has(requested) && requested <= MAX_CLIENT_CONF_ID) {
      if (requested < GATEWAY_CONF_IDS_FROM) this.maxConfId = Math.max(this.maxConfId, requested);
      else this.maxGatewayConfId = Math.max(this.maxGatewayConfId ?? GATEWAY_CONF_IDS_FROM, requested);
      return requested;
    }
    return this.gatewayConfId();
  }

  /** A confId the gateway picks for a conversation the client did not number (an incoming invitation). */
  gatewayConfId(): number {
    // A snapshot written before the two ranges existed holds no maxGatewayConfId.
    this.maxGatewayConfId = Math.max(this.maxGatewayConfId ?? GATEWAY_CONF_IDS_FROM, GATEWAY_CONF_IDS_FROM) + 1;
    return this.maxGatewayConfId;
  }
}
