// Composition root: configuration -> stores -> engine -> transports.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { normalizePublicUrl, parseCorsOrigins, type GatewayConfig } from './config.js';
import { LocalCoordinator, type Coordinator } from './cluster/coordinator.js';
import { RedisCoordinator, ReplicaClock, type Replica } from './cluster/redis-coordinator.js';
import { ReplicatedEventLog } from './cluster/replicated-log.js';
import { SNAPSHOT_VERSION } from './cluster/snapshot.js';
import { GatewayState } from './cluster/state.js';
import { AttachmentRegistry } from './delivery/attachments.js';
import { MemoryEventLog, type EventLog } from './delivery/event-log.js';
import { RidCache } from './delivery/rid-cache.js';
import { systemClock, type Clock } from './engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine, type EngineConfig } from './engine/engine.js';
import { SeededRandom } from './engine/random.js';
import type { ConfigurationData } from './engine/types.js';
import { CloseCode } from './transport/ws/close-codes.js';
import { createLogger, silentLogger, type Logger } from './ops/logger.js';
import { MeteredEventLog } from './ops/metered-log.js';
import { GatewayMetrics } from './ops/metrics.js';
import { LogonGuard } from './ops/logon-guard.js';
import { RateLimiter } from './ops/rate-limit.js';
import { drainBudget, RequestsInFlight, ShutdownRegistry, type ShutdownReport } from './ops/shutdown.js';
import { renderBatchAnswer } from './protocol/responses.js';
import { LogEventSink, overflowRecord } from './protocol/event-sink.js';
import { RequestSchema } from './protocol/schema.js';
import { MemoryUserDataStore } from './store/memory.js';
import { connectRedis, redisTarget, whenReady } from './store/redis-connection.js';
import { SqliteUserDataStore } from './store/sqlite.js';
import type { UserDataStore } from './store/types.js';
import { createRequestListener } from './transport/http/app.js';
import type { OpsContext, TransportContext } from './transport/http/context.js';
import { HeldPolls } from './transport/http/held-polls.js';
import { WebSocketChannel } from './transport/ws/websocket-server.js';
import { WEB_CLIENT_DIR, WebClientFiles } from './transport/http/web-client.js';
import { TlsEndpoint } from './transport/tls.js';
import type { UserDirectory } from './users/directory.js';
import { PACKAGE_VERSION } from './version.js';
import type { Directory } from './engine/ports.js';
import type { Redis } from 'ioredis';


/** Each door's rendering of batch answers (cluster/state.ts runs batches, the doors render them). */
const DOORS = { cwa: renderBatchAnswer };
export interface RunningGateway {
  url: string;
  /** With --tls-cert: reads the certificate files again (SIGHUP); false when they are unusable. */
  reloadCertificates?(): boolean;
  /** Graceful shutdown (see ops/shutdown.ts); rejects when a step that must not fail did. */
  close(): Promise<void>;
}

export interface Gateway {
  /** The engine this node serves from (read it; change state through `coordinator`). */
  readonly engine: Engine;
  /** Applies changes: at once on one gateway, through the shared command stream on a cluster. */
  coordinator: Coordinator;
  /** With --store redis://…: this node's part in the cluster. */
  cluster?: RedisCoordinator;
  /** Runs the timers once (tests driving a manual clock; on a cluster, proposes a tick). */
  tick(): Promise<void>;
  context: TransportContext;
  server: http.Server;
  /** With --tls-cert/--tls-key: the certificate `server` serves (HTTPS and WSS), and its reload. */
  tls?: TlsEndpoint;
  /** The WebSocket door to the data channel (upgrades of the data-channel path). */
  websocket: WebSocketChannel;
  /** Users' durable data (contacts, containers, published categories …). */
  store: UserDataStore;
  /** The Redis connection with --store redis://… (the shared command stream lives there). */
  redis?: Redis;
  /** Resolves true once the store answers (at once when embedded), false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  logger: Logger;
  metrics: GatewayMetrics;
  /**
   * Where other parts register what they must do on shutdown: the WebSocket transport
   * closes its sockets with 1001 in phase "release", durable stores flush in "flush".
   */
  shutdown: ShutdownRegistry;
  /** Runs the graceful shutdown within --shutdown-timeout-ms. */
  stop(): Promise<ShutdownReport>;
  /** Stops the timers and frees native resources (does not touch the listening socket). */
  dispose(): void;
}

export interface GatewayDeps {
  users: UserDirectory;
  clock?: Clock;
  /** Defaults to a silent logger (tests); startGateway logs JSON to stdout at --log-level. */
  logger?: Logger;
  /** Also export process metrics (CPU, memory, event loop); off in tests. */
  processMetrics?: boolean;
  /** A store to use instead of the one --store/--data-dir name; the caller closes it. */
  store?: UserDataStore;
}

/** The configuration event's content, from the options. */
export function configurationOf(config: GatewayConfig): ConfigurationData {
  return {
    ...DEFAULT_CONFIGURATION,
    enableAppearOffline: config.enableAppearOffline !== 'false',
    composingRefreshS: config.composingRefreshS,
    composingTimeoutS: config.composingTimeoutS,
    searchDefaultFunction: config.searchDefaultFunction,
    ...(config.userNotice !== undefined ? { userNotice: config.userNotice } : {}),
  };
}

export const MAX_EVENTS_PER_POLL = 200;

/** At shutdown, how long the listener and idle keep-alive connections stay open (answering 503) after the last request in flight was answered. */
export const SHUTDOWN_LINGER_MS = 250;

/**
 * What the nodes of one cluster must share: the gateway version, the options that shape
 * the replicated state, and the user directory (without credentials).
 */
export function clusterFingerprint(config: GatewayConfig, users: Directory): string {
  const shaping = {
    version: PACKAGE_VERSION,
    snapshot: SNAPSHOT_VERSION,
    engine: engineConfigOf(config),
    log: [config.logMaxEvents, config.logMaxBytes],
    ridCacheSize: config.ridCacheSize,
    ridCacheMaxBytes: config.ridCacheMaxBytes,
    // The logs hold rendered events, whose bytes depend on the layout (and count against --log-max-bytes).
    xmlLayout: config.xmlLayout,
    users: users.all(),
  };
  return createHash('sha256').update(JSON.stringify(shaping)).digest('base64url');
}

/** The engine's settings, from the options. */
export function engineConfigOf(config: GatewayConfig): EngineConfig {
  return {
    pollWaitMs: config.pollWaitMs,
    sessionTimeoutS: config.sessionTimeoutS,
    ticketTtlS: config.ticketTtlS,
    inviteTimeoutS: config.inviteTimeoutS,
    maxMessageLength: config.maxMessageLength,
    maxSessionsPerUser: config.maxSessionsPerUser,
    maxParticipantsPerConference: config.maxParticipantsPerConference,
    maxConferencesPerSession: config.maxConferencesPerSession,
    mpopAcceptS: config.mpopAcceptS,
    messageHighWater: {
      events: Math.ceil((config.logMaxEvents * config.logHighWaterPct) / 100),
      bytes: Math.ceil((config.logMaxBytes * config.logHighWaterPct) / 100),
    },
    endedSessionGraceS: 60,
    configuration: configurationOf(config),
    userData: {
      searchMaxResults: config.searchMaxResults,
      machineIdleS: config.machineIdleS,
      machineAwayS: config.machineAwayS,
      maxContacts: config.maxContacts,
      maxContainerMembers: config.maxContainerMembers,
    },
  };
}

/**
 * Builds empty replicas of a cluster node's state (at start, when the cluster starts over;
 * the apply-rate bench replays a recorded command stream into one).
 */
export function replicaFactory(
  config: GatewayConfig,
  users: Directory,
  metrics: GatewayMetrics = new GatewayMetrics({ processMetrics: false }),
  onOverflow: (sid: number) => void = () => undefined,
): () => Replica {
  const limits = { maxEvents: config.logMaxEvents, maxBytes: config.logMaxBytes };
  const engineConfig = engineConfigOf(config);
  return (): Replica => {
    const replicaClock = new ReplicaClock();
    const random = new SeededRandom();
    const logs = new MemoryEventLog(limits, overflowRecord(config.xmlLayout));
    const local = new MeteredEventLog(logs, metrics, onOverflow);
    const store = new MemoryUserDataStore();
    const sink = new LogEventSink(local, config.xmlLayout);
    const engine = new Engine(users, sink, replicaClock, engineConfig, store, random);
    const state = new GatewayState(engine, local, new RidCache(config.ridCacheSize, undefined, config.ridCacheMaxBytes), DOORS);
    sink.ucwa = state.ucwaRendering();
    return { state, clock: replicaClock, random, logs, store };
  };
}

/** Builds a gateway without listening (tests listen on an ephemeral port themselves). */
export function createGateway(config: GatewayConfig, deps: GatewayDeps): Gateway {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger();
  const metrics = new GatewayMetrics({ processMetrics: deps.processMetrics });
  // First: unusable certificate files stop the start before anything is opened.
  const tls = config.tlsCert !== undefined && config.tlsKey !== undefined
    ? new TlsEndpoint({ cert: config.tlsCert, key: config.tlsKey, ...(config.tlsCa !== undefined ? { ca: config.tlsCa } : {}) }, logger, metrics)
    : undefined;
  const shutdown = new ShutdownRegistry();
  const limits = { maxEvents: config.logMaxEvents, maxBytes: config.logMaxBytes };
  const engineConfig = engineConfigOf(config);
  const onOverflow = (sid: number) => logger.warn({ sid }, 'session ended: its unacknowledged events exceeded the event log bound');
  const ridCacheOf = () => new RidCache(config.ridCacheSize, undefined, config.ridCacheMaxBytes);
  let store: UserDataStore;
  let log: EventLog;
  let coordinator: Coordinator;
  const attachments = new AttachmentRegistry();
  let cluster: RedisCoordinator | undefined;
  let redis: Redis | undefined;
  // Set once the transports exist: a cluster that starts over drops their attachments.
  let dropAttachments = (): void => undefined;
  if (config.store === 'embedded') {
    // One process: users' durable data in SQLite under --data-dir, event logs in memory.
    store = deps.store ?? SqliteUserDataStore.open(config.dataDir);
    const local = new MeteredEventLog(new MemoryEventLog(limits, overflowRecord(config.xmlLayout)), metrics, onOverflow);
    const sink = new LogEventSink(local, config.xmlLayout);
    const engine = new Engine(deps.users, sink, clock, engineConfig, store);
    const state = new GatewayState(engine, local, ridCacheOf(), DOORS);
    sink.ucwa = state.ucwaRendering();
    coordinator = new LocalCoordinator(state);
    log = local;
  } else {
    // Nodes sharing Redis: every change is a command on one stream there, and every node
    // applies the whole stream to its own replica (cluster/redis-coordinator.ts).
    redis = connectRedis(config.store);
    const reader = connectRedis(config.store, 'cwa-gateway-stream');
    const subscriber = connectRedis(config.store, 'cwa-gateway-attach');
    const target = redisTarget(config.store).safe;
    // Requests answer 503 meanwhile; ioredis reconnects by itself (and reports every failed
    // attempt). Logged once when the outage starts and once when it ends, with its length.
    let downSince: number | undefined;
    const onError = (err: Error) => {
      if (downSince === undefined) logger.error({ redis: target, err: err.message }, 'Redis unreachable: requests answer 503 until it is back');
      downSince ??= Date.now();
    };
    redis.on('error', onError);
    reader.on('error', onError);
    subscriber.on('error', onError);
    redis.on('ready', () => {
      if (downSince !== undefined) logger.info({ redis: target, outageMs: Date.now() - downSince }, 'Redis reachable again');
      downSince = undefined;
    });
    const makeReplica = replicaFactory(config, deps.users, metrics, onOverflow);
    cluster = new RedisCoordinator({
      redis,
      reader,
      subscriber,
      onAttachedElsewhere: (sid, kind) => attachments.supersededElsewhere(sid, kind),
      prefix: config.redisPrefix,
      nodeId: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
      clock,
      makeReplica,
      onStartOver: () => dropAttachments(),
      logger,
      touchEveryMs: Math.min(5000, (config.sessionTimeoutS * 1000) / 20),
      snapshotEvery: config.snapshotEvery,
      metrics,
      fingerprint: clusterFingerprint(config, deps.users),
    });
    const node = cluster;
    coordinator = node;
    attachments.onAttach = (sid, kind) => node.announceAttach(sid, kind);
    store = node.state.engine.store;
    log = new ReplicatedEventLog(() => node.state.log as MeteredEventLog, (acks) => node.ack(acks));
    node.start();
  }
  const engineOf = () => coordinator.state.engine;
  metrics.bind({
    sessions: () => engineOf().liveSessions(),
    eventLogs: () => log.size(),
    eventsPending: () => (coordinator.state.log as MeteredEventLog).pending(),
  });
  const schema = RequestSchema.load();
  // The web client, unless turned off; a gateway built without it (tsc alone) serves the plain root page.
  const webClient = config.noWebClient ? undefined : WebClientFiles.load();
  if (!config.noWebClient && !webClient) logger.warn({ dir: WEB_CLIENT_DIR }, 'the web client is not built (npm run build): /app/ is not served');
  const inFlight = new RequestsInFlight();
  const ops: OpsContext = {
    logger,
    metrics,
    rates: {
      address: new RateLimiter({ ratePerS: config.rateAddress, burst: config.rateAddressBurst }, clock),
      ticket: new RateLimiter({ ratePerS: config.rateTicket, burst: config.rateTicketBurst }, clock),
      logonAddress: new RateLimiter({ ratePerS: config.rateLogonAddress / 60, burst: Math.max(1, config.rateLogonAddress) }, clock),
      logon: new LogonGuard({
        failuresPerAddress: config.rateLogonFailuresAddress,
        backoffAfter: config.logonBackoffAfter,
        backoffMaxS: config.logonBackoffMaxS,
        failuresPerUser: config.rateLogonFailures,
        holdMaxMs: config.logonFailureHoldMs,
      }, clock),
    },
    polls: new HeldPolls(metrics.heldPolls),
    inFlight,
    shutdown,
    corsOrigins: config.corsOrigins === undefined ? [] : parseCorsOrigins(config.corsOrigins),
    trustProxy: config.trustProxy,
    ...(config.adminToken !== undefined ? { adminToken: config.adminToken } : {}),
  };
  const context: TransportContext = {
    get engine() {
      return engineOf();
    },
    coordinator,
    log,
    schema,
    limits: {
      maxBodyBytes: config.maxBodyBytes,
      maxDepth: config.maxXmlDepth,
      maxElements: config.maxXmlElements,
      maxAttributes: config.maxAttributes,
      maxAttributeLength: config.maxAttributeLength,
      maxRequestsPerBatch: config.maxRequestsPerBatch,
    },
    holdMs: config.holdMs,
    confirmationBatchMs: config.confirmationBatchMs,
    pollWaitMs: config.pollWaitMs,
    maxEventsPerPoll: MAX_EVENTS_PER_POLL,
    xmlLayout: config.xmlLayout,
    fallbackCharset: config.fallbackCharset === 'none' ? undefined : config.fallbackCharset,
    attachments,
    ops,
    // Normalized here too: a config given programmatically (the embedded gateway) skips the CLI's parsing.
    ...(config.publicUrl !== undefined ? { publicUrl: normalizePublicUrl(config.publicUrl) } : {}),
    ...(webClient ? { webClient } : {}),
  };
  // Slow clients: headers and whole requests must arrive in bounded time (checked often
  // enough that the bound holds); a held poll has been received, so it is not affected.
  const serverOptions = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
  };
  const app = createRequestListener(context, { isListening: (): boolean => server.listening });
  const server: http.Server = tls ? tls.createServer(serverOptions, app) : http.createServer(serverOptions, app);
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  const websocket = new WebSocketChannel(context, {
    maxPayloadBytes: config.wsMaxPayloadBytes,
    maxBufferedBytes: config.wsMaxBufferedBytes,
    pingIntervalMs: config.wsPingIntervalMs,
    frameRate: config.wsFrameRate,
    frameBurst: config.wsFrameBurst,
  });
  websocket.listen(server);
  dropAttachments = () => {
    // The node now serves another copy of the state: polls are answered, sockets closed with
    // 1001 so their clients attach again (to their session, or learn with a 404 that it is gone).
    ops.polls.releaseAll();
    for (const sub of websocket.list()) sub.close(CloseCode.GoingAway);
  };
  // Timers: a single gateway ticks its engine every second; cluster nodes look four times a
  // second whether some node has proposed a tick lately, and propose one when none has.
  // A tick that fails (Redis unreachable) is retried by the next one.
  const node = cluster;
  const timer = deps.clock
    ? undefined
    : node
      ? setInterval(() => node.maybeTick().catch(() => undefined), 250)
      : setInterval(() => coordinator.tick().catch(() => undefined), 1000);
  timer?.unref();
  let disposed = false;
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    if (timer) clearInterval(timer);
    websocket.close(0);
    schema.dispose();
    if (!deps.store) void store.close();
    void cluster?.stop();
    redis?.disconnect();
  };


  // Shutdown steps of the HTTP side and the engine; other parts add theirs. From the start
  // of shutdown every new request is answered 503 with Retry-After and Connection: close
  // (app.ts) and every answer closes its connection; the listener and the idle keep-alive
  // connections stay open until the requests in flight are answered. Closing them at once
  // would reset what clients had just sent: a request on a connection the server saw as idle,
  // a connection still waiting in the listen backlog.
  // Sockets get 1001 at once; one still open after a second is dropped (upgraded connections
  // are not the HTTP server's to close, and it waits for them).
  shutdown.register('close WebSockets', 'release', () => {
    const n = websocket.stats().open;
    websocket.close(Math.min(1000, config.shutdownTimeoutMs / 4));
    logger.info({ webSockets: n }, 'shutdown: WebSockets closed');
  });
  shutdown.register('answer held polls', 'release', () => {
    const n = ops.polls.releaseAll();
    logger.info({ polls: n }, 'shutdown: held polls answered');
  });
  shutdown.register('finish requests in flight', 'drain', async (deadline) => {
    const budget = drainBudget(deadline, config.shutdownTimeoutMs);
    const until = Date.now() + budget;
    // Requests in flight finish and are answered; then a moment for requests already on their
    // way (answered 503); then the listener and the idle connections close.
    await inFlight.none(until - Date.now());
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(SHUTDOWN_LINGER_MS, until - Date.now()))));
    await inFlight.none(until - Date.now());
    const serverClosed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server.closeIdleConnections();
    tls?.closeHandshaking(); // connections still in the TLS handshake hold no request either
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      serverClosed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, until - Date.now())))),
    ]);
    clearTimeout(timer);
    if (late) {
      logger.warn({ afterMs: budget }, 'shutdown: requests still in flight, closing their connections');
      server.closeAllConnections();
      tls?.destroyConnections(); // also those still in the TLS handshake, which HTTP does not see
      await serverClosed;
    }
  });
  shutdown.register('stop the engine', 'engine', async () => {
    if (timer) clearInterval(timer);
    // A cluster node leaves its sessions to the other nodes (they live in the shared state);
    // a single gateway ends them, telling their peers.
    if (cluster) await cluster.stop();
    else await engineOf().shutdown();
  });
  // better-sqlite3 writes synchronously: every answered command is already in the database;
  // closing it checkpoints the write-ahead log. A store handed in by the caller is theirs to close.
  shutdown.register('close the durable store', 'flush', async () => {
    if (!deps.store) await store.close();
  });
  shutdown.register('free resources', 'final', () => {
    dispose();
    logger.flush();
  });

  return {
    get engine() {
      return engineOf();
    },
    coordinator,
    ...(cluster ? { cluster } : {}),
    tick: () => coordinator.tick(),
    context,
    server,
    ...(tls ? { tls } : {}),
    websocket,
    store,
    ...(redis ? { redis } : {}),
    ready: async (timeoutMs) => {
      if (!cluster || !redis) return true;
      const started = Date.now();
      return (await whenReady(redis, timeoutMs)) && cluster.ready(Math.max(0, timeoutMs - (Date.now() - started)));
    },
    logger,
    metrics,
    shutdown,
    dispose,
    async stop() {
      const report = await shutdown.run(config.shutdownTimeoutMs, logger);
      logger.info({ ms: report.ms, ok: report.ok, timedOut: report.timedOut, failed: report.failed }, 'shutdown complete');
      logger.flush();
      return report;
    },
  };
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const logger = deps.logger ?? createLogger(config.logLevel, undefined, config.logFormat);
  const gw = createGateway(config, { processMetrics: true, ...deps, logger });
  // Serve once Redis answers; if it does not within 5 s, serve anyway (503s until it does).
  if (!(await gw.ready(5000))) logger.warn({ store: redisTarget(config.store).safe }, 'Redis does not answer yet: requests answer 503 until it does');
  await new Promise<void>((resolve, reject) => {
    gw.server.once('error', reject);
    gw.server.listen(config.port, config.host, () => resolve());
  });
  const addr = gw.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${gw.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  // The start line is written at every level but silent: it is where operators and scripts find the URL.
  const startLog = config.logLevel === 'silent' ? logger : logger.child({}, { level: 'info' });
  const dataDir = config.store === 'embedded' ? config.dataDir : undefined;
  startLog.info({ url, holdMs: config.holdMs, logLevel: config.logLevel, ...(dataDir !== undefined ? { dataDir } : {}), ...(gw.context.webClient ? { webClient: `${url}/app/` } : {}) }, 'listening');
  if (config.holdMs >= 30_000) {
    logger.warn({ holdMs: config.holdMs }, '--hold-ms is 30 s or more: proxies and load balancers that cut idle requests at 30 s will answer held polls with 504');
  }
  const tls = gw.tls;
  return {
    url,
    ...(tls ? { reloadCertificates: () => tls.reload() } : {}),
    async close() {
      const report = await gw.stop();
      if (!report.ok) throw new Error(`shutdown incomplete: ${[...report.failed, ...report.timedOut].join(', ')}`);
    },
  };
}
