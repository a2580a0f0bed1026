/**
 * Gateway configuration: one table of options, from which parsing, validation, `--help` and the
 * README table are all derived, so they cannot drift apart.
 * Precedence: command-line flags > environment > config file (JSON) > defaults.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';

import { supportedCharset } from './protocol/charset.js';
import { XML_LAYOUTS, type XmlLayout } from './protocol/layout.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
/** `auto`: readable lines when standard output is a terminal, JSON lines otherwise. */
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface GatewayConfig {
  port: number;
  host: string;
  usersFile?: string;
  pollWaitMs: number;
  holdMs: number;
  confirmationBatchMs: number;
  sessionTimeoutS: number;
  /** `embedded` or a `redis://` / `rediss://` URL. */
  store: string;
  /** Namespace of the gateway's Redis keys and channels. */
  redisPrefix: string;
  snapshotEvery: number;
  dataDir: string;
  configFile?: string;
  ticketTtlS: number;
  maxBodyBytes: number;
  maxXmlDepth: number;
  maxXmlElements: number;
  maxAttributes: number;
  maxAttributeLength: number;
  maxRequestsPerBatch: number;
  maxMessageLength: number;
  logMaxEvents: number;
  logMaxBytes: number;
  logHighWaterPct: number;
  ridCacheSize: number;
  ridCacheMaxBytes: number;
  inviteTimeoutS: number;
  maxParticipantsPerConference: number;
  maxConferencesPerSession: number;
  mpopAcceptS: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  searchMaxResults: number;
  searchDefaultFunction: 'and' | 'or';
  enableAppearOffline: 'true' | 'false';
  userNotice?: string;
  composingRefreshS: number;
  composingTimeoutS: number;
  machineIdleS: number;
  machineAwayS: number;
  maxContacts: number;
  maxContainerMembers: number;
  maxSessionsPerUser: number;
  rateAddress: number;
  rateAddressBurst: number;
  rateTicket: number;
  rateTicketBurst: number;
  rateLogonAddress: number;
  rateLogonFailuresAddress: number;
  logonBackoffAfter: number;
  logonBackoffMaxS: number;
  rateLogonFailures: number;
  logonFailureHoldMs: number;
  trustProxy: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** Comma-separated origins allowed by CORS (`*` for any); undefined: no CORS headers. */
  corsOrigins?: string;
  /** Bearer token of the operator endpoint /admin/revoke; undefined: no such endpoint. */
  adminToken?: string;
  wsMaxPayloadBytes: number;
  wsMaxBufferedBytes: number;
  wsPingIntervalMs: number;
  xmlLayout: XmlLayout;
  /** Charset label, or `none`. */
  fallbackCharset: string;
  wsFrameRate: number;
  wsFrameBurst: number;
  /** PEM certificate (chain) and key: with both, the gateway serves HTTPS and WSS. */
  tlsCert?: string;
  tlsKey?: string;
  /** PEM intermediates (or a CA bundle) sent after the certificate. */
  tlsCa?: string;
  /** The address clients reach the gateway at, for absolute links (no trailing slash). */
  publicUrl?: string;
  /** Do not serve the web client at /app/ (and answer a browser's GET / with the plain page). */
  noWebClient: boolean;
}

/** A configuration that cannot be used; the message names the flag, variable or file key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface OptionSpec {
  key: keyof GatewayConfig;
  flag: string;
  env: string;
  /** `switch`: a flag without a value (`--no-web-client`); `true`/`false` in the environment and a JSON boolean in a file. */
  type: 'int' | 'string' | 'enum' | 'switch';
  default: number | string | boolean | undefined;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** A filesystem path: when read from a config file it is relative to that file. */
  path?: boolean;
  /** Not settable from a config file (only `configFile` itself). */
  noFile?: boolean;
  /** Extra check for string values; returns a description of what is wrong. */
  check?: (value: string) => string | undefined;
  /** Placeholder shown in help, e.g. `--port N`. */
  arg: string;
  description: string;
}

const MiB = 1024 * 1024;

function checkStore(value: string): string | undefined {
  if (value === 'embedded') return undefined;
  const expected = 'expected "embedded" or redis://[user:password@]host[:port][/db]';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return expected;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return expected;
  if (url.hostname === '') return `${expected} (host missing)`;
  if (!/^(\/(\d+)?)?$/.test(url.pathname)) return `${expected} (db must be a number)`;
  if (url.search !== '' || url.hash !== '') return `${expected} (no query or fragment)`;
  return undefined;
}

function checkAdminToken(value: string): string | undefined {
  if (value.length < 16 || /\s/.test(value)) return 'expected at least 16 characters without spaces';
  return undefined;
}

/** `*`, or a comma-separated list of origins (scheme://host[:port]). */
export function parseCorsOrigins(value: string): '*' | string[] {
  const list = value.split(',').map((o) => o.trim()).filter((o) => o !== '');
  return list.includes('*') ? '*' : list;
}

function checkCorsOrigins(value: string): string | undefined {
  const list = value.split(',').map((o) => o.trim()).filter((o) => o !== '');
  if (list.length === 0) return 'expected * or a comma-separated list of origins';
  for (const origin of list) {
    if (origin === '*') continue;
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined;
    }
    if (!url || url.origin === 'null' || url.origin !== origin.replace(/\/$/, '')) {
      return `"${origin}" is not an origin (scheme://host[:port], no path)`;
    }
  }
  return undefined;
}

/** An http(s) URL naming where clients reach the gateway: no credentials, query or fragment. */
function checkPublicUrl(value: string): string | undefined {
  const expected = 'expected http(s)://host[:port][/path] (the address clients use)';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return expected;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return expected;
  if (url.hostname === '') return `${expected} (host missing)`;
  if (url.username !== '' || url.password !== '') return `${expected} (no user or password)`;
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(value)) return `${expected} (no query or fragment)`;
  return undefined;
}

/** The public URL as links are built from it: normalized, without a trailing slash. */
export function normalizePublicUrl(value: string): string {
  return new URL(value).href.replace(/\/+$/, '');
}

function checkFallbackCharset(value: string): string | undefined {
  if (value === 'none') return undefined;
  return supportedCharset(value) ? undefined : 'expected "none" or a charset label Node can decode (windows-1252, iso-8859-1, shift_jis …)';
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'port', flag: '--port', env: 'PORT', type: 'int', default: 8080, min: 0, max: 65535, arg: 'N',
    description: 'listen port (0 = any free port)' },
  { key: 'host', flag: '--host', env: 'HOST', type: 'string', default: '127.0.0.1', arg: 'HOST',
    description: 'listen address' },
  { key: 'usersFile', flag: '--users', env: 'CWA_USERS', type: 'string', default: undefined, path: true, arg: 'FILE',
    description: 'user directory (JSON); without it the bundled demo users are used' },
  { key: 'pollWaitMs', flag: '--poll-wait-ms', env: 'CWA_POLL_WAIT_MS', type: 'int', default: 1000, min: 0, max: 60000, arg: 'N',
    description: 'pollWaitTime told to clients, in milliseconds' },
  { key: 'holdMs', flag: '--hold-ms', env: 'CWA_HOLD_MS', type: 'int', default: 25000, min: 0, max: 120000, arg: 'N',
    description: 'longest time a data-channel GET is held open with no event queued (0 = answer at once)' },
  { key: 'confirmationBatchMs', flag: '--confirmation-batch-ms', env: 'CWA_CONFIRMATION_BATCH_MS', type: 'int', default: 50, min: 0, max: 1000, arg: 'N',
    description: 'how long delivery confirmations (messageIdReceived) alone wait for more before a held data-channel GET answers them or a WebSocket pushes them (0 = at once); any other event goes at once, with them' },
  { key: 'sessionTimeoutS', flag: '--session-timeout-s', env: 'CWA_SESSION_TIMEOUT_S', type: 'int', default: 600, min: 10, max: 86400, arg: 'N',
    description: 'idle time in seconds after which a session ends' },
  { key: 'store', flag: '--store', env: 'CWA_STORE', type: 'string', default: 'embedded', check: checkStore, arg: 'URL',
    description: '"embedded" (in-process state, durable data in SQLite) or redis://host:port/db (several gateway nodes sharing one state on Redis)' },
  { key: 'redisPrefix', flag: '--redis-prefix', env: 'CWA_REDIS_PREFIX', type: 'string', default: 'cwa:', arg: 'PREFIX',
    description: 'prefix of every Redis key and channel the gateway uses (with --store redis://…)' },
  { key: 'snapshotEvery', flag: '--snapshot-every', env: 'CWA_SNAPSHOT_EVERY', type: 'int', default: 50000, min: 0, max: 100000000, arg: 'N',
    description: 'with --store redis://…: this node writes a snapshot of the shared state every N commands (one node at a time; 0 = never, leave it to other nodes), and the command stream is trimmed to it' },
  { key: 'dataDir', flag: '--data-dir', env: 'CWA_DATA_DIR', type: 'string', default: './data', path: true, arg: 'DIR',
    description: 'where the embedded store keeps durable data (SQLite); made absolute at start and logged in the "listening" line: relative to the working directory on the command line or in CWA_DATA_DIR, to the config file in it' },
  { key: 'configFile', flag: '--config', env: 'CWA_CONFIG', type: 'string', default: undefined, noFile: true, arg: 'FILE',
    description: 'JSON file holding any of these options by their camelCase name; paths in it are relative to it' },
  { key: 'ticketTtlS', flag: '--ticket-ttl-s', env: 'CWA_TICKET_TTL_S', type: 'int', default: 3600, min: 1, max: 604800, arg: 'N',
    description: 'a CWA-Ticket not used for this many seconds expires (a ticket in use stays valid; it is offered a replacement past half this age)' },
  { key: 'maxBodyBytes', flag: '--max-body-bytes', env: 'CWA_MAX_BODY_BYTES', type: 'int', default: 65536, min: 1, max: 64 * MiB, arg: 'N',
    description: 'largest request body accepted, in bytes' },
  { key: 'maxXmlDepth', flag: '--max-xml-depth', env: 'CWA_MAX_XML_DEPTH', type: 'int', default: 16, min: 1, max: 256, arg: 'N',
    description: 'deepest element nesting accepted in a request' },
  { key: 'maxXmlElements', flag: '--max-xml-elements', env: 'CWA_MAX_XML_ELEMENTS', type: 'int', default: 2000, min: 1, max: 1000000, arg: 'N',
    description: 'most elements accepted in one request document' },
  { key: 'maxAttributes', flag: '--max-attributes', env: 'CWA_MAX_ATTRIBUTES', type: 'int', default: 32, min: 4, max: 1024, arg: 'N',
    description: 'most attributes accepted on one element, namespace declarations included (a published state category needs 3)' },
  { key: 'maxAttributeLength', flag: '--max-attribute-length', env: 'CWA_MAX_ATTRIBUTE_LENGTH', type: 'int', default: 4096, min: 64, max: MiB, arg: 'N',
    description: 'longest attribute value accepted, in characters, namespace URIs included (the protocol\'s own are up to 52)' },
  { key: 'maxRequestsPerBatch', flag: '--max-requests-per-batch', env: 'CWA_MAX_REQUESTS_PER_BATCH', type: 'int', default: 32, min: 1, max: 1000, arg: 'N',
    description: 'most requests accepted in one cwaRequests batch' },
  { key: 'fallbackCharset', flag: '--fallback-charset', env: 'CWA_FALLBACK_CHARSET', type: 'string', default: 'windows-1252', check: checkFallbackCharset, arg: 'CHARSET',
    description: 'charset a request body is read in when it is not valid UTF-8 and names no charset (no BOM, no Content-Type charset, no XML encoding declaration): a legacy client posting in its platform\'s charset; "none" refuses such a body with 400' },
  { key: 'xmlLayout', flag: '--xml-layout', env: 'CWA_XML_LAYOUT', type: 'enum', default: 'original', values: XML_LAYOUTS, arg: 'LAYOUT',
    description: 'layout of event documents: "original" puts each child element on its own indented line as the original server did (clients that read child nodes by position need it), "compact" adds no whitespace' },
  { key: 'maxMessageLength', flag: '--max-message-length', env: 'CWA_MAX_MESSAGE_LENGTH', type: 'int', default: 8192, min: 1, max: MiB, arg: 'N',
    description: 'longest instant message accepted, in characters' },
  { key: 'logMaxEvents', flag: '--log-max-events', env: 'CWA_LOG_MAX_EVENTS', type: 'int', default: 1000, min: 1, max: 1000000, arg: 'N',
    description: 'unacknowledged events kept per session before it ends with an overflow error' },
  { key: 'logMaxBytes', flag: '--log-max-bytes', env: 'CWA_LOG_MAX_BYTES', type: 'int', default: MiB, min: 1, max: 1024 * MiB, arg: 'N',
    description: 'bytes of unacknowledged events kept per session before it ends with an overflow error' },
  { key: 'logHighWaterPct', flag: '--log-high-water-pct', env: 'CWA_LOG_HIGH_WATER_PCT', type: 'int', default: 50, min: 1, max: 100, arg: 'N',
    description: 'an instant message to a session whose unacknowledged events fill more than N% of --log-max-events or --log-max-bytes is refused to its sender (messageSendFailed, 18101) instead of queued, so a slow reader slows its partners down rather than overflowing; 100 turns this off (only the log bounds apply)' },
  { key: 'ridCacheSize', flag: '--rid-cache-size', env: 'CWA_RID_CACHE_SIZE', type: 'int', default: 8, min: 1, max: 1024, arg: 'N',
    description: 'command responses cached per session to answer a retried batch' },
  { key: 'ridCacheMaxBytes', flag: '--rid-cache-max-bytes', env: 'CWA_RID_CACHE_MAX_BYTES', type: 'int', default: 32 * MiB, min: 64 * 1024, max: 4096 * MiB, arg: 'N',
    description: 'approximate bytes of cached command responses kept in all (least recently used sessions\' answers go first)' },
  { key: 'inviteTimeoutS', flag: '--invite-timeout-s', env: 'CWA_INVITE_TIMEOUT_S', type: 'int', default: 60, min: 1, max: 3600, arg: 'N',
    description: 'seconds an unanswered conference invitation stays pending' },
  { key: 'maxParticipantsPerConference', flag: '--max-participants-per-conference', env: 'CWA_MAX_PARTICIPANTS_PER_CONFERENCE', type: 'int', default: 32, min: 2, max: 1000, arg: 'N',
    description: 'most participants (joined or invited) in one conversation' },
  { key: 'maxConferencesPerSession', flag: '--max-conferences-per-session', env: 'CWA_MAX_CONFERENCES_PER_SESSION', type: 'int', default: 64, min: 1, max: 10000, arg: 'N',
    description: 'most conversations one session takes part in at once' },
  { key: 'mpopAcceptS', flag: '--mpop-accept-s', env: 'CWA_MPOP_ACCEPT_S', type: 'int', default: 7, min: 1, max: 300, arg: 'N',
    description: 'seconds after which an invitation nobody accepted goes to the invitee\'s most active endpoint (the last to report UA=true; when none does, the last one heard from)' },
  { key: 'wsMaxPayloadBytes', flag: '--ws-max-payload-bytes', env: 'CWA_WS_MAX_PAYLOAD_BYTES', type: 'int', default: 65536, min: 64, max: 64 * MiB, arg: 'N',
    description: 'largest WebSocket frame accepted from a client, in bytes (a larger one closes the socket with 1009)' },
  { key: 'wsMaxBufferedBytes', flag: '--ws-max-buffered-bytes', env: 'CWA_WS_MAX_BUFFERED_BYTES', type: 'int', default: 4 * MiB, min: 1024, max: 1024 * MiB, arg: 'N',
    description: 'bytes a WebSocket may have waiting to be sent before it is closed with 4002 (keep it above 3 x --log-max-bytes so a whole backlog fits)' },
  { key: 'wsPingIntervalMs', flag: '--ws-ping-interval-ms', env: 'CWA_WS_PING_INTERVAL_MS', type: 'int', default: 25000, min: 10, max: 600000, arg: 'N',
    description: 'WebSocket heartbeat: a ping every N ms; a socket that has not answered the previous ping is dropped' },
  { key: 'wsFrameRate', flag: '--ws-frame-rate', env: 'CWA_WS_FRAME_RATE', type: 'int', default: 200, min: 0, max: 1000000, arg: 'N',
    description: 'frames per second the gateway reads from one WebSocket, acks and refused frames included (0 = no limit); beyond it the gateway stops reading the socket until the budget refills (nothing is dropped)' },
  { key: 'wsFrameBurst', flag: '--ws-frame-burst', env: 'CWA_WS_FRAME_BURST', type: 'int', default: 400, min: 1, max: 1000000, arg: 'N',
    description: 'frames one WebSocket may send at once before --ws-frame-rate applies' },
  { key: 'logLevel', flag: '--log-level', env: 'CWA_LOG_LEVEL', type: 'enum', default: 'info', values: LOG_LEVELS, arg: 'LEVEL',
    description: 'log verbosity' },
  { key: 'logFormat', flag: '--log-format', env: 'CWA_LOG_FORMAT', type: 'enum', default: 'auto', values: LOG_FORMATS, arg: 'FORMAT',
    description: 'standard output: JSON lines (json), readable lines (pretty), or pretty when it is a terminal and JSON otherwise (auto)' },
  { key: 'searchMaxResults', flag: '--search-max-results', env: 'CWA_SEARCH_MAX_RESULTS', type: 'int', default: 100, min: 1, max: 10000, arg: 'N',
    description: 'most users in one searchResult (moreAvailable="true" beyond)' },
  { key: 'searchDefaultFunction', flag: '--search-default-function', env: 'CWA_SEARCH_DEFAULT_FUNCTION', type: 'enum', default: 'or', values: ['and', 'or'], arg: 'FN',
    description: 'how search fields combine when a search names no function (told to clients in configuration)' },
  { key: 'enableAppearOffline', flag: '--enable-appear-offline', env: 'CWA_ENABLE_APPEAR_OFFLINE', type: 'enum', default: 'true', values: ['true', 'false'], arg: 'BOOL',
    description: 'whether users may publish Appear Offline (told to clients in configuration)' },
  { key: 'userNotice', flag: '--user-notice', env: 'CWA_USER_NOTICE', type: 'string', default: undefined, arg: 'TEXT',
    description: 'administrator notice shown at the top of every new IM window (configuration userNotice)' },
  { key: 'composingRefreshS', flag: '--im-composing-refresh-s', env: 'CWA_IM_COMPOSING_REFRESH_S', type: 'int', default: 60, min: 1, max: 3600, arg: 'N',
    description: 'imComposingTimers refreshInterval told to clients, in seconds' },
  { key: 'composingTimeoutS', flag: '--im-composing-timeout-s', env: 'CWA_IM_COMPOSING_TIMEOUT_S', type: 'int', default: 120, min: 1, max: 3600, arg: 'N',
    description: 'imComposingTimers timeout told to clients, in seconds' },
  { key: 'machineIdleS', flag: '--machine-idle-s', env: 'CWA_MACHINE_IDLE_S', type: 'int', default: 300, min: 1, max: 86400, arg: 'N',
    description: 'seconds without UA=true before a session\'s machine state turns inactive (autoPublishMachineState)' },
  { key: 'machineAwayS', flag: '--machine-away-s', env: 'CWA_MACHINE_AWAY_S', type: 'int', default: 1200, min: 1, max: 86400, arg: 'N',
    description: 'seconds without UA=true before a session\'s machine state turns away' },
  { key: 'maxContacts', flag: '--max-contacts', env: 'CWA_MAX_CONTACTS', type: 'int', default: 1000, min: 1, max: 100000, arg: 'N',
    description: 'most contacts in one user\'s contact list' },
  { key: 'maxContainerMembers', flag: '--max-container-members', env: 'CWA_MAX_CONTAINER_MEMBERS', type: 'int', default: 1000, min: 1, max: 100000, arg: 'N',
    description: 'most members in one access-control container' },
  { key: 'maxSessionsPerUser', flag: '--max-sessions-per-user', env: 'CWA_MAX_SESSIONS_PER_USER', type: 'int', default: 10, min: 1, max: 1000, arg: 'N',
    description: 'live sessions one user may hold; initiateSession beyond it fails with 18102' },
  { key: 'rateAddress', flag: '--rate-address', env: 'CWA_RATE_ADDRESS', type: 'int', default: 1000, min: 0, max: 1000000, arg: 'N',
    description: 'requests per second accepted from one client address (0 = no limit); beyond it HTTP 429, error 18101' },
  { key: 'rateAddressBurst', flag: '--rate-address-burst', env: 'CWA_RATE_ADDRESS_BURST', type: 'int', default: 2000, min: 1, max: 1000000, arg: 'N',
    description: 'requests one client address may send at once before --rate-address applies' },
  { key: 'rateTicket', flag: '--rate-ticket', env: 'CWA_RATE_TICKET', type: 'int', default: 20, min: 0, max: 1000000, arg: 'N',
    description: 'requests per second accepted with one CWA-Ticket (0 = no limit); beyond it HTTP 429, error 18101' },
  { key: 'rateTicketBurst', flag: '--rate-ticket-burst', env: 'CWA_RATE_TICKET_BURST', type: 'int', default: 60, min: 1, max: 1000000, arg: 'N',
    description: 'requests one CWA-Ticket may send at once before --rate-ticket applies' },
  { key: 'rateLogonAddress', flag: '--rate-logon-address', env: 'CWA_RATE_LOGON_ADDRESS', type: 'int', default: 600, min: 0, max: 1000000, arg: 'N',
    description: 'logon attempts per minute (and at once) from one client address, successful or not (0 = no limit)' },
  { key: 'rateLogonFailuresAddress', flag: '--rate-logon-failures-address', env: 'CWA_RATE_LOGON_FAILURES_ADDRESS', type: 'int', default: 30, min: 0, max: 1000000, arg: 'N',
    description: 'failed logons per minute (and at once) from one client address, whatever the user, before logons from there are refused with 429 (0 = no limit)' },
  { key: 'logonBackoffAfter', flag: '--logon-backoff-after', env: 'CWA_LOGON_BACKOFF_AFTER', type: 'int', default: 5, min: 0, max: 1000, arg: 'N',
    description: 'failed logons of one user from one client address before each further attempt from there must wait 1 s, 2 s, 4 s, … (429 until then; 0 = no limit)' },
  { key: 'logonBackoffMaxS', flag: '--logon-backoff-max-s', env: 'CWA_LOGON_BACKOFF_MAX_S', type: 'int', default: 900, min: 1, max: 86400, arg: 'N',
    description: 'longest wait --logon-backoff-after imposes, in seconds' },
  { key: 'rateLogonFailures', flag: '--rate-logon-failures', env: 'CWA_RATE_LOGON_FAILURES', type: 'int', default: 10, min: 0, max: 1000000, arg: 'N',
    description: 'failed logons per minute (and at once) for one user from all addresses before answers to wrong passwords for that user are held; the right password is never refused or held (0 = no limit)' },
  { key: 'logonFailureHoldMs', flag: '--logon-failure-hold-ms', env: 'CWA_LOGON_FAILURE_HOLD_MS', type: 'int', default: 3000, min: 0, max: 60000, arg: 'N',
    description: 'longest time the answer to a wrong password is held once --rate-logon-failures is exceeded' },
  { key: 'trustProxy', flag: '--trust-proxy', env: 'CWA_TRUST_PROXY', type: 'int', default: 0, min: 0, max: 10, arg: 'N',
    description: 'reverse proxies in front of the gateway whose X-Forwarded-For names the client address (for rate limits and logs)' },
  { key: 'headersTimeoutMs', flag: '--headers-timeout-ms', env: 'CWA_HEADERS_TIMEOUT_MS', type: 'int', default: 10000, min: 100, max: 600000, arg: 'N',
    description: 'longest time a client may take to send request headers (slow clients get 408 and are disconnected)' },
  { key: 'requestTimeoutMs', flag: '--request-timeout-ms', env: 'CWA_REQUEST_TIMEOUT_MS', type: 'int', default: 30000, min: 100, max: 3600000, arg: 'N',
    description: 'longest time a client may take to send a whole request, headers and body (held polls are not affected)' },
  { key: 'keepAliveTimeoutMs', flag: '--keep-alive-timeout-ms', env: 'CWA_KEEP_ALIVE_TIMEOUT_MS', type: 'int', default: 5000, min: 100, max: 600000, arg: 'N',
    description: 'how long an idle keep-alive connection stays open' },
  { key: 'shutdownTimeoutMs', flag: '--shutdown-timeout-ms', env: 'CWA_SHUTDOWN_TIMEOUT_MS', type: 'int', default: 10000, min: 100, max: 600000, arg: 'N',
    description: 'on SIGTERM/SIGINT, longest wait for requests in flight before connections are cut and the process exits' },
  { key: 'corsOrigins', flag: '--cors-origins', env: 'CWA_CORS_ORIGINS', type: 'string', default: undefined, check: checkCorsOrigins, arg: 'LIST',
    description: 'comma-separated origins (scheme://host[:port]) whose web pages may call the gateway, or * for any' },
  { key: 'adminToken', flag: '--admin-token', env: 'CWA_ADMIN_TOKEN', type: 'string', default: undefined, check: checkAdminToken, arg: 'TOKEN',
    description: 'enables POST /admin/revoke?user=LOGIN (and `cwa-gateway revoke`) for callers sending "Authorization: Bearer TOKEN"; at least 16 characters (prefer the environment or the config file: a flag shows in process lists)' },
  { key: 'tlsCert', flag: '--tls-cert', env: 'CWA_TLS_CERT', type: 'string', default: undefined, path: true, arg: 'FILE',
    description: 'PEM certificate (followed by its intermediates, if any): with --tls-key the port serves HTTPS and WSS instead of HTTP and WS; both files are read again on SIGHUP' },
  { key: 'tlsKey', flag: '--tls-key', env: 'CWA_TLS_KEY', type: 'string', default: undefined, path: true, arg: 'FILE',
    description: 'PEM private key of --tls-cert (unencrypted; keep the file readable by the gateway only)' },
  { key: 'tlsCa', flag: '--tls-ca', env: 'CWA_TLS_CA', type: 'string', default: undefined, path: true, arg: 'FILE',
    description: 'PEM intermediate certificates (a chain or CA bundle) sent after --tls-cert, for a certificate file that holds only the server\'s own' },
  { key: 'publicUrl', flag: '--public-url', env: 'CWA_PUBLIC_URL', type: 'string', default: undefined, check: checkPublicUrl, arg: 'URL',
    description: 'the address clients reach the gateway at (e.g. https://lyncdiscover.example.com, the proxy\'s when one terminates TLS): named on the root page; absolute links are built from it' },
  { key: 'noWebClient', flag: '--no-web-client', env: 'CWA_NO_WEB_CLIENT', type: 'switch', default: false, arg: '',
    description: 'do not serve the web client at /app/ (a browser opening / then gets the plain page naming the gateway instead of a redirect to /app/)' },
];

const BY_FLAG = new Map(OPTIONS.map((o) => [o.flag, o]));
/** The camelCase name of a flag: `--im-composing-refresh-s` -> `imComposingRefreshS`. */
export function camelCaseOf(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
/** Config-file keys: each option's key, and the camelCase name of its flag where that differs (what the README promises). */
const BY_KEY = new Map<string, OptionSpec>([...OPTIONS.map((o) => [camelCaseOf(o.flag), o] as const), ...OPTIONS.map((o) => [o.key, o] as const)]);

/** Edit distance (insertions, deletions, substitutions), for suggesting the name a typo meant. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** ` (did you mean X?)` for the nearest known name, when one is near enough to be what was meant. */
function didYouMean(given: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  const g = given.toLowerCase();
  for (const k of known) {
    const d = editDistance(g, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(given.length / 4)) ? ` (did you mean ${best}?)` : '';
}

function allowed(o: OptionSpec): string {
  if (o.type === 'int') return `an integer in ${o.min}..${o.max}`;
  if (o.type === 'enum') return `one of ${o.values!.join(', ')}`;
  if (o.type === 'switch') return 'true or false';
  return 'a non-empty string';
}

/**
 * Parses and checks one value; `source` names where it came from, for the error message.
 * Flags and env are text; a config file must use JSON numbers for integers.
 */
function parseValue(o: OptionSpec, raw: unknown, source: string, fromText = true): number | string | boolean {
  const bad = (why?: string): never => {
    const shown = o.key === 'store' || o.key === 'adminToken' ? '' : ` ${JSON.stringify(raw)}`; // a Redis URL may hold a password
    throw new ConfigError(`${source}: invalid value${shown}: ${why ?? `expected ${allowed(o)}`}`);
  };
  if (o.type === 'switch') {
    if (typeof raw === 'boolean') return raw;
    if (fromText && typeof raw === 'string' && /^(true|1)$/i.test(raw.trim())) return true;
    if (fromText && typeof raw === 'string' && /^(false|0)$/i.test(raw.trim())) return false;
    return bad();
  }
  if (o.type === 'int') {
    let n: number;
    if (typeof raw === 'number') n = raw;
    else if (fromText && typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim())) n = Number(raw.trim());
    else return bad();
    if (!Number.isSafeInteger(n) || n < o.min! || n > o.max!) return bad();
    return n;
  }
  if (typeof raw !== 'string' || raw.trim() === '') return bad();
  const value = raw.trim();
  if (o.type === 'enum' && !o.values!.includes(value)) return bad();
  const problem = o.check?.(value);
  if (problem) bad(problem);
  return value;
}

/** Reads `--flag value` / `--flag=value` pairs; the last occurrence of a flag wins. */
function parseFlags(argv: readonly string[]): Map<OptionSpec, unknown> {
  const out = new Map<OptionSpec, unknown>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}" (options are --flag value)`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const o = BY_FLAG.get(flag);
    if (!o) throw new ConfigError(`unknown option ${flag}${didYouMean(flag, BY_FLAG.keys())} (see --help)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (o.type === 'switch') value = 'true'; // a switch takes no value
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`${flag}: missing value, expected ${allowed(o)}`);
      value = next;
      i++;
    }
    out.set(o, parseValue(o, value, flag));
  }
  return out;
}

async function readConfigFile(file: string): Promise<Map<OptionSpec, unknown>> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const what = err instanceof SyntaxError ? 'invalid JSON' : 'cannot read config file';
    throw new ConfigError(`${file}: ${what}: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`${file}: expected a JSON object of options`);
  }
  const out = new Map<OptionSpec, unknown>();
  for (const [key, raw] of Object.entries(doc)) {
    const o = BY_KEY.get(key);
    if (!o || o.noFile) {
      const keys = [...BY_KEY].filter(([, x]) => !x.noFile).map(([k]) => k);
      const hint = didYouMean(key, keys) || ` (allowed: ${OPTIONS.filter((x) => !x.noFile).map((x) => camelCaseOf(x.flag)).join(', ')})`;
      throw new ConfigError(`${file}: unknown key "${key}"${hint}`);
    }
    let value = parseValue(o, raw, `${file}: key "${key}"`, false);
    if (o.path && typeof value === 'string' && !isAbsolute(value)) value = resolve(dirname(file), value);
    out.set(o, value);
  }
  return out;
}

export function defaultConfig(): GatewayConfig {
  const config: Record<string, unknown> = {};
  for (const o of OPTIONS) if (o.default !== undefined) config[o.key] = o.default;
  return config as unknown as GatewayConfig;
}

export async function loadConfig(argv: readonly string[], env: Record<string, string | undefined>): Promise<GatewayConfig> {
  const flags = parseFlags(argv);
  // An empty variable (`PORT=`) counts as unset, as shells make that easy to produce by accident.
  const fromEnv = new Map<OptionSpec, unknown>();
  for (const o of OPTIONS) {
    const raw = env[o.env];
    if (raw !== undefined && raw !== '') fromEnv.set(o, parseValue(o, raw, `environment variable ${o.env}`));
  }
  const configOpt = BY_KEY.get('configFile')!;
  const configFile = (flags.get(configOpt) ?? fromEnv.get(configOpt)) as string | undefined;
  const fromFile = configFile !== undefined ? await readConfigFile(configFile) : new Map<OptionSpec, unknown>();

  const config: Record<string, unknown> = { ...defaultConfig() };
  for (const layer of [fromFile, fromEnv, flags]) {
    for (const [o, value] of layer) config[o.key] = value;
  }
  checkCombination(config as unknown as GatewayConfig);
  // --data-dir is never left relative to wherever the process happens to start: without one
  // given anywhere it is `data` beside the config file (when there is one), and it is made
  // absolute here so that the start line names the folder the data really goes to.
  const dataDirOpt = BY_KEY.get('dataDir')!;
  if (configFile !== undefined && ![fromFile, fromEnv, flags].some((layer) => layer.has(dataDirOpt))) {
    config.dataDir = resolve(dirname(configFile), 'data');
  }
  config.dataDir = resolve(config.dataDir as string);
  if (typeof config.publicUrl === 'string') config.publicUrl = normalizePublicUrl(config.publicUrl);
  return config as unknown as GatewayConfig;
}

/** Constraints between options (each value is already in its own range). */
function checkCombination(config: GatewayConfig): void {
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError(
      `--headers-timeout-ms (${config.headersTimeoutMs}) must not exceed --request-timeout-ms (${config.requestTimeoutMs})`,
    );
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError(
      `${config.tlsCert === undefined ? '--tls-key' : '--tls-cert'} needs ${config.tlsCert === undefined ? '--tls-cert' : '--tls-key'} too: HTTPS takes a certificate and its private key (give both, or neither for plain HTTP)`,
    );
  }
  if (config.tlsCa !== undefined && config.tlsCert === undefined) {
    throw new ConfigError('--tls-ca is sent with the certificate of --tls-cert: give --tls-cert and --tls-key too');
  }
}

function defaultText(o: OptionSpec): string {
  if (o.key === 'dataDir') return '`data` beside the --config file, else ./data';
  if (o.default !== undefined) return String(o.default);
  if (o.key === 'usersFile') return 'demo users';
  if (o.key === 'corsOrigins') return 'none (no CORS headers)';
  if (o.key === 'adminToken') return 'none (no operator endpoint)';
  if (o.key === 'tlsCert' || o.key === 'tlsKey') return 'none (plain HTTP)';
  return 'none';
}

function rangeText(o: OptionSpec): string {
  if (o.type === 'int') return ` [${o.min}..${o.max}]`;
  if (o.type === 'enum') return ` [${o.values!.join('|')}]`;
  return '';
}

/** Help text: one block per option with flag, environment variable, default and description. */
export function describeOptions(): string {
  const usage = (o: OptionSpec) => `${o.flag} ${o.arg}`.trimEnd();
  const width = Math.max(...OPTIONS.map((o) => usage(o).length)) + 2;
  return OPTIONS.map((o) => {
    const head = `  ${usage(o).padEnd(width)}${o.description}${rangeText(o)}`;
    return `${head}\n  ${''.padEnd(width)}env ${o.env}, default: ${defaultText(o)}`;
  }).join('\n');
}

/** The same table as Markdown, for the README. */
export function describeOptionsMarkdown(): string {
  const rows = OPTIONS.map((o) =>
    `| \`${`${o.flag} ${o.arg}`.trimEnd()}\` | \`${o.env}\` | ${o.description}${rangeText(o).replace(/\|/g, '\\|')} | ${defaultText(o)} |`);
  return ['| flag | env | meaning | default |', '|---|---|---|---|', ...rows].join('\n');
}
