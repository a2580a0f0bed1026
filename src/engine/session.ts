// A CWA session (one `sid`): the signed-in endpoint of one user, its conversations
// keyed by its own confId numbering, and its activity clock.
import type { DirectoryUser } from './ports.js';
import type { Conversation, Leg } from './conversation.js';
import type { SessionOptions } from './types.js';

export class Session {
  /** Names the class in a cluster snapshot, which keeps data only (cluster/snapshot.ts). */
  readonly snapshotClass = 'Session';
  readonly legs = new Map<number, Leg>();
  /** Highest confId used in this session; never reused. */
  private maxConfId = 0;
  lastActivity: number;
  /** Last `UA` value reported on the data channel, and when UA=true was last reported. */
  userActive = false;
  userActiveAt = 0;
  ended = false;

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

  /** Adopts a client-chosen confId when it is free, else allocates the next one. */
  allocateConfId(requested = 0): number {
    const id = requested > 0 && !this.legs.has(requested) && requested > this.maxConfId ? requested : this.maxConfId + 1;
    this.maxConfId = Math.max(this.maxConfId, id);
    return id;
  }

  legOf(conv: Conversation): Leg | undefined {
    for (const leg of this.legs.values()) if (leg.conversation === conv) return leg;
    return undefined;
  }
}
