// The engine's configuration and its defaults: limits and the configuration event every
// session starts with. Its own file so that modules (through EngineCore) and the engine
// both depend on it, and not on each other.
import type { Backlog } from './ports.js';
import type { ConfigurationData } from './types.js';

export interface EngineConfig {
  pollWaitMs: number;
  sessionTimeoutS: number;
  ticketTtlS: number;
  inviteTimeoutS: number;
  maxMessageLength: number;
  /** Live sessions one user may hold; initiateSession beyond it fails. */
  maxSessionsPerUser: number;
  maxParticipantsPerConference: number;
  maxConferencesPerSession: number;
  mpopAcceptS: number;
  /** How long the log of a session the gateway ended stays readable, so the client can read why. */
  endedSessionGraceS: number;
  configuration: ConfigurationData;
  /**
   * Unacknowledged events (count, bytes) of a session beyond which IM messages to it are
   * refused to their sender (18101) rather than queued; none (or the log bound itself):
   * only the log bound applies.
   */
  messageHighWater?: Backlog;
  /** Presence, contacts, access control and search limits (defaults in USER_DATA_DEFAULTS). */
  userData?: Partial<UserDataConfig>;
}

export interface UserDataConfig {
  searchMaxResults: number;
  machineIdleS: number;
  machineAwayS: number;
  maxContacts: number;
  maxContainerMembers: number;
}

export const USER_DATA_DEFAULTS: UserDataConfig = {
  searchMaxResults: 100,
  machineIdleS: 300,
  machineAwayS: 1200,
  maxContacts: 1000,
  maxContainerMembers: 1000,
};

export const DEFAULT_CONFIGURATION: ConfigurationData = {
  enableAppearOffline: true,
  composingRefreshS: 60,
  composingTimeoutS: 120,
  searchDefaultFunction: 'or',
  searchDefaultFields: '0100',
};
