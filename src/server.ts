// Composition root: configuration -> stores -> engine -> transports.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from './config.js';
import { MemoryEventLog, type EventLog } from './delivery/event-log.js';
import { RedisEventLog } from './delivery/redis-event-log.js';
import { RidCache } from './delivery/rid-cache.js';
import { systemClock, type Clock } from './engine/clock.js';
import { DEFAULT_CONFIGURATION, Engine } from './engine/engine.js';
import type { ConfigurationData } from './engine/types.js';
import { LogEventSink, OVERFLOW_RECORD } from './protocol/event-sink.js';
import { RequestSchema } from './protocol/schema.js';
import { createApp } from './transport/http/app.js';
import type { TransportContext } from './transport/http/context.js';
import { RedisUserDataStore } from './store/redis.js';
import { connectRedis, redisTarget } from './store/redis-connection.js';
import { SqliteUserDataStore } from './store/sqlite.js';
import type { UserDataStore } from './store/types.js';
import type { UserDirectory } from './users/directory.js';
import type { Redis } from 'ioredis';

export interface RunningGateway {
  url: string;
  close(): Promise<void>;
}

export interface Gateway {
  engine: Engine;
  context: TransportContext;
  server: http.Server;
  /** Users' durable data (contacts, containers, published categories …). */
  store: UserDataStore;
  /** The Redis connection with --store redis://… (event logs and durable data live there). */
  redis?: Redis;
  /** Stops the timers and frees native resources (does not touch the listening socket). */
  dispose(): void;
}

export interface GatewayDeps {
  users: UserDirectory;
  clock?: Clock;
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

/** Builds a gateway without listening (tests listen on an ephemeral port themselves). */
export function createGateway(config: GatewayConfig, deps: GatewayDeps): Gateway {
  const clock = deps.clock ?? systemClock;
  const limits = { maxEvents: config.logMaxEvents, maxBytes: config.logMaxBytes };
  let store: UserDataStore;
  let log: EventLog;
  let redis: Redis | undefined;
  if (config.store === 'embedded') {
    // Users' durable data in SQLite under --data-dir; event logs in the process.
    store = deps.store ?? SqliteUserDataStore.open(config.dataDir);
    log = new MemoryEventLog(limits, OVERFLOW_RECORD);
  } else {
    // Event logs and durable data on Redis. Sessions, tickets and conferences are still held
    // by this process: one gateway process per Redis database (see the README).
    redis = connectRedis(config.store);
    redis.on('error', () => undefined); // requests answer 503 meanwhile; ioredis reconnects
    store = deps.store ?? new RedisUserDataStore(redis, config.redisPrefix, `redis:${redisTarget(config.store).safe}`);
    // A log untouched for longer than a session may stay idle belongs to a dead session.
    log = new RedisEventLog(redis, limits, OVERFLOW_RECORD, { prefix: config.redisPrefix, ttlMs: (config.sessionTimeoutS + 600) * 1000 });
  }
  const engine = new Engine(deps.users, new LogEventSink(log), clock, {
    pollWaitMs: config.pollWaitMs,
    sessionTimeoutS: config.sessionTimeoutS,
    ticketTtlS: config.ticketTtlS,
    inviteTimeoutS: config.inviteTimeoutS,
    maxMessageLength: config.maxMessageLength,
    maxParticipantsPerConference: config.maxParticipantsPerConference,
    maxConferencesPerSession: config.maxConferencesPerSession,
    mpopAcceptS: config.mpopAcceptS,
    endedSessionGraceS: 60,
    configuration: configurationOf(config),
    userData: {
      searchMaxResults: config.searchMaxResults,
      machineIdleS: config.machineIdleS,
      machineAwayS: config.machineAwayS,
      maxContacts: config.maxContacts,
      maxContainerMembers: config.maxContainerMembers,
    },
  }, store);
  const schema = RequestSchema.load();
  const context: TransportContext = {
    engine,
    log,
    schema,
    ridCache: new RidCache(config.ridCacheSize),
    limits: {
      maxBodyBytes: config.maxBodyBytes,
      maxDepth: config.maxXmlDepth,
      maxElements: config.maxXmlElements,
      maxAttributes: config.maxAttributes,
      maxAttributeLength: config.maxAttributeLength,
      maxRequestsPerBatch: config.maxRequestsPerBatch,
    },
    holdMs: config.holdMs,
    pollWaitMs: config.pollWaitMs,
    maxEventsPerPoll: MAX_EVENTS_PER_POLL,
  };
  const server = http.createServer(createApp(context));
  // A tick that fails (Redis unreachable) is retried by the next one.
  const timer = deps.clock ? undefined : setInterval(() => engine.tick().catch(() => undefined), 1000);
  timer?.unref();
  return {
    engine,
    context,
    server,
    store,
    ...(redis ? { redis } : {}),
    dispose() {
      if (timer) clearInterval(timer);
      schema.dispose();
      if (!deps.store) void store.close();
      if (log instanceof RedisEventLog) void log.disconnect();
      redis?.disconnect();
    },
  };
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const gw = createGateway(config, deps);
  await new Promise<void>((resolve, reject) => {
    gw.server.once('error', reject);
    gw.server.listen(config.port, config.host, () => resolve());
  });
  const addr = gw.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    async close() {
      await gw.engine.shutdown();
      await new Promise<void>((resolve) => {
        gw.server.close(() => resolve());
        gw.server.closeAllConnections();
      });
      gw.dispose();
    },
  };
}
