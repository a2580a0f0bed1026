// Several gateway nodes, one state: every change is a command appended to one Redis
// stream, and every node applies the whole stream, in order, to its own copy of the
// state (sessions, tickets, conversations, presence, user data, event logs, rid cache).
// The stream is the state's source of truth; a node's memory is a replica of it.
//
//   <prefix>cmd       stream; entry ids are 0-<seq>, seq = 1, 2, 3 … without gaps
//   <prefix>seq       the last seq handed out (INCR in the append script)
//   <prefix>epoch     random id of this stream's life; a Redis that lost its data has none
//   <prefix>snap      the state after command <seq> (snapshot.ts), written every
//                     --snapshot-every commands by one node; the stream is trimmed to it
//   <prefix>snapmeta  "<epoch>:<seq>" of that snapshot
//   <prefix>snaplock  taken (SET NX PX) by the node writing a snapshot
//   <prefix>cluster-id  random id of the cluster, drawn by its first node (SET NX) and kept
//                     when Redis loses its data (a node that reseeds writes back the one it
//                     knows); the pub/sub channel <prefix><cluster-id>:attach is named after
//                     it, since channels ignore database numbers (attach-notices.ts)
//
// Why it is correct: a command's effects are a function of the state before it and of
// the command (its time and random seed travel in it), so nodes that apply the same
// commands in the same order hold the same state. Conflicting requests on two nodes are
// ordered by the stream like requests on one node are ordered by the engine's mutex: no
// update is lost, and every participant of a conference sees its events in one order.
// A node killed at any point loses nothing that was answered: the answer is sent after
// the command was appended and applied, and every other node applies it too.
//
// Reads are local. A node may be a little behind the stream: when a read misses (an
// unknown session or ticket) it catches up to the stream's end (`sync`) and looks again.
import type { Redis } from 'ioredis';
import type { CachedResponse } from '../delivery/rid-cache.js';
import type { Session } from '../engine/session.js';
import { newTicket, ticketHash, type TicketCheck } from '../engine/tickets.js';
import type { SignOutResult } from '../engine/engine.js';
import type { Clock } from '../engine/clock.js';
import { newSeed, type SeededRandom } from '../engine/random.js';
import type { Logger } from '../ops/logger.js';
import type { GatewayMetrics } from '../ops/metrics.js';
import { StoreUnavailableError } from '../store/unavailable.js';
import { attachChannel, AttachNotices } from './attach-notices.js';
import { TouchPacer } from './touch-pacer.js';
import { portableBatch, type Command, type Envelope } from './commands.js';
import { digestOf } from '../engine/hash.js';
import type { UcwaOp, UcwaResult } from '../protocol/ucwa/operations.js';
import type { BatchCommand, Coordinator } from './coordinator.js';
import { loadSnapshot, readSnapshotMeta, SNAPSHOT_VERSION, writeSnapshot, type SnapshotParts } from './snapshot.js';
import type { GatewayState } from './state.js';

/** The clock of a replica: the time of the last command applied (every node the same). */
export class ReplicaClock implements Clock {
  private t = 0;
  now(): number {
    return this.t;
  }
  advanceTo(t: number): void {
    if (t > this.t) this.t = t;
  }
  /** A snapshot's time (loading one). */
  set(t: number): void {
    this.t = t;
  }
}

/** A node's replica: the state, the clock and random source its engine was built with, and the parts a snapshot holds. */
export interface Replica extends SnapshotParts {
  state: GatewayState;
  clock: ReplicaClock;
  random: SeededRandom;
}

export interface RedisCoordinatorOptions {
  /** Connection for appends and reads of the counters (fails fast while Redis is away). */
  redis: Redis;
  /** A second connection, used only for the blocking reads of the stream. */
  reader: Redis;
  /** A third one, subscribed to the cluster's channel where nodes announce new listeners of a session. */
  subscriber: Redis;
  /** A session's listener attached on another node (this node's listener of it gives way). */
  onAttachedElsewhere?: (sid: number, kind: 'poll' | 'websocket') => void;
  prefix: string;
  /** This node's id in command origins (unique per process). */
  nodeId: string;
  /** The proposing node's time source (the system clock; tests pass a manual one). */
  clock: Clock;
  /** Builds an empty replica (at start, and when the cluster starts over). */
  makeReplica: () => Replica;
  /** Called after the replica was replaced: transports drop what they held of the old one. */
  onStartOver?: () => void;
  logger: Logger;
  /** A command not applied within this time fails with 503 (it may still apply later: retries are de-duplicated). */
  proposeTimeoutMs?: number;
  /** Polls and sockets refresh a session's activity at most this often per session (a command each time; touch-pacer.ts). */
  touchEveryMs: number;
  /** How often some node proposes a timer tick. */
  tickEveryMs?: number;
  /** A snapshot every this many commands (0: never; the stream then grows until Redis loses it). */
  snapshotEvery: number;
  metrics?: GatewayMetrics;
  /**
   * What every node of one stream must share (the gateway version, the options that shape
   * the state, the user directory): nodes that differ would apply the same commands
   * differently. A node whose fingerprint differs from the stream's refuses to serve.
   */
  fingerprint: string;
}

/** KEYS stream seq epoch; ARGV envelope epoch. Appends with the next seq, unless the epoch changed (the XADD first: if it fails, nothing changed). */
const APPEND = `
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return redis.error_reply('EPOCH stream epoch changed') end
local n = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
redis.call('XADD', KEYS[1], '0-' .. n, 'c', ARGV[1])
redis.call('SET', KEYS[2], n)
return n
`;

/** KEYS stream seq epoch snap snapmeta; ARGV fresh. The stream's epoch; a fresh one (and an empty stream) if there is none. */
const EPOCH = `
local e = redis.call('GET', KEYS[3])
if e then return e end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
redis.call('SET', KEYS[3], ARGV[1])
return ARGV[1]
`;

/**
 * KEYS stream seq epoch snap snapmeta cluster-id; ARGV fresh seq snapshot expected cluster-id.
 * Redis lost the stream (no epoch, expected '') or entries of it (a failover to a replica that
 * missed them; expected = that epoch): a node that still holds the state offers it as the base
 * of a new stream, unless another node did first (the epoch is no longer the expected one).
 * The cluster keeps its id: the node's, unless one is there already.
 */
const RESEED = `
local e = redis.call('GET', KEYS[3])
if (e or '') ~= ARGV[4] then return e end
redis.call('SET', KEYS[6], ARGV[5], 'NX')
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[4], ARGV[3])
redis.call('SET', KEYS[5], ARGV[1] .. ':' .. ARGV[2])
redis.call('SET', KEYS[3], ARGV[1])
return ARGV[1]
`;

/** KEYS stream epoch snap snapmeta; ARGV epoch seq snapshot. Saves a newer snapshot and trims the stream to it. */
const SAVE = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local m = redis.call('GET', KEYS[4])
if m and string.sub(m, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' and tonumber(string.sub(m, string.len(ARGV[1]) + 2)) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[3], ARGV[3])
redis.call('SET', KEYS[4], ARGV[1] .. ':' .. ARGV[2])
redis.call('XTRIM', KEYS[1], 'MINID', '0-' .. (tonumber(ARGV[2]) + 1))
return 1
`;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RedisCoordinator implements Coordinator {
  private replica: Replica;
  private readonly keys: [string, string, string];
  private readonly snapKeys: [string, string, string];
  private lastSnapshotSeq = 0;
  private epoch: string | undefined;
  private applied = 0;
  private counter = 0;
  private readonly pending = new Map<string, Pending>();
  private syncWaiters: Array<{ seq: number; resolve: () => void }> = [];
  /** Proposer time of the last tick applied (any node's). */
  private lastTickAt = 0;
  private tickInFlight = false;
  /** The stream the current replica's state comes from. */
  private replicaEpoch: string | undefined;
  /** Set when the stream's end was seen below what this node applied. */
  private wentBack: number | undefined;
  private readerUp = false;
  /** Since when the stream cannot be read (one line when it starts, one when it ends), and at what level that was logged. */
  private streamDown: { since: number; level: 'error' | 'debug' } | undefined;
  private followedOnce = false;
  private caughtUp = false;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly proposeTimeoutMs: number;
  private readonly tickEveryMs: number;
  private readonly clusterIdKey: string;
  /** The cluster's id as this node last read it from Redis (undefined before it joined). */
  private clusterIdKnown: string | undefined;
  private readonly notices: AttachNotices;
  private readonly touches: TouchPacer;

  constructor(private readonly opts: RedisCoordinatorOptions) {
    this.replica = opts.makeReplica();
    this.keys = [`${opts.prefix}cmd`, `${opts.prefix}seq`, `${opts.prefix}epoch`];
    this.snapKeys = [`${opts.prefix}snap`, `${opts.prefix}snapmeta`, `${opts.prefix}snaplock`];
    this.proposeTimeoutMs = opts.proposeTimeoutMs ?? 5000;
    this.tickEveryMs = opts.tickEveryMs ?? 1000;
    this.clusterIdKey = `${opts.prefix}cluster-id`;
    this.notices = new AttachNotices({
      publisher: opts.redis,
      subscriber: opts.subscriber,
      nodeId: opts.nodeId,
      ...(opts.onAttachedElsewhere ? { onAttachedElsewhere: opts.onAttachedElsewhere } : {}),
    });
    this.touches = new TouchPacer({
      everyMs: opts.touchEveryMs,
      now: () => opts.clock.now(),
      propose: async (session, ua) => {
        await this.propose({ t: 'touch', login: session.user.login, sid: session.sid, ...(ua !== undefined ? { ua } : {}) });
      },
      current: (session) => {
        const s = this.running ? this.state.engine.sessionFor(session.user.login, session.sid) : undefined;
        return s && !s.ended ? s : undefined;
      },
    });
  }

  /** The id of the cluster this node belongs to (undefined until it joined). */
  get clusterId(): string | undefined {
    return this.clusterIdKnown;
  }

  get state(): GatewayState {
    return this.replica.state;
  }

  /** Last seq this node applied (tests, metrics). */
  get position(): number {
    return this.applied;
  }

  /** Starts following the stream; `ready` resolves once this node has caught up. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.follow();
    this.notices.start();
  }

  /** A poll or WebSocket of `sid` attached on this node: the other nodes' listeners of it give way (attach-notices.ts). */
  announceAttach(sid: number, kind: 'poll' | 'websocket'): void {
    this.notices.announce(sid, kind);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.touches.clear();
    for (const [o, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new StoreUnavailableError('The gateway node is stopping'));
      this.pending.delete(o);
    }
    this.opts.reader.disconnect();
    this.notices.stop();
    await this.loopDone;
  }

  /** Set when this node may not join the stream (see `fingerprint`). */
  refusal: Error | undefined;

  /** Resolves true once the node has applied the stream up to where it was when called (or false after `timeoutMs`). */
  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.caughtUp) {
      if (this.refusal) throw this.refusal;
      if (Date.now() > deadline) return false;
      await delay(20);
    }
    return true;
  }

  available(): boolean {
    return this.running && this.caughtUp && this.readerUp && this.opts.redis.status === 'ready' && this.epoch !== undefined;
  }

  // ---- proposing ------------------------------------------------------------------

  private async propose(c: Command): Promise<unknown> {
    if (!this.available()) throw new StoreUnavailableError('Redis is unavailable (the shared command stream cannot be reached)');
    const o = `${this.opts.nodeId}:${++this.counter}`;
    this.opts.metrics?.clusterProposed.inc({ type: c.t });
    const env: Envelope = { c, o, now: this.opts.clock.now(), seed: newSeed() };
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(o);
        reject(new StoreUnavailableError(`The command was not applied within ${this.proposeTimeoutMs} ms`));
      }, this.proposeTimeoutMs);
      this.pending.set(o, { resolve, reject, timer });
    });
    try {
      const before = this.applied;
      const seq = Number(await this.opts.redis.eval(APPEND, 3, ...this.keys, JSON.stringify(env), this.epoch!));
      // A new entry numbered no higher than one this node had applied before appending it:
      // the stream went back (see `follow`). (Its own follower may apply it before this reply.)
      if (seq <= before) this.wentBack = seq;
    } catch (err) {
      const p = this.pending.get(o);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(o);
      }
      result.catch(() => undefined);
      if (err instanceof Error && err.message.includes('EPOCH')) this.epoch = undefined; // the follower starts over
      throw new StoreUnavailableError(`Redis is unavailable: ${(err as Error).message}`, { cause: err });
    }
    return result;
  }

  async issueTicket(login: string): Promise<string> {
    // Only the ticket's hash travels: Redis never holds a usable ticket.
    const ticket = newTicket();
    await this.propose({ t: 'logon', login, ticketHash: ticketHash(ticket) });
    return ticket;
  }

  async checkTicket(presented: string | undefined): Promise<TicketCheck | undefined> {
    // A node cut off from the stream cannot know whether a ticket is still valid.
    if (!this.available()) throw new StoreUnavailableError('Redis is unavailable (the shared command stream cannot be reached)');
    if (!presented) return undefined;
    // The engine's clock stands at the last command applied; a ticket is judged at this moment.
    const tickets = () => this.state.engine.tickets;
    const now = () => Math.max(this.opts.clock.now(), this.replica.clock.now());
    let seen = tickets().inspect(presented, now());
    if (!seen) {
      // Issued on another node a moment ago, perhaps: catch up and look again.
      await this.sync();
      seen = tickets().inspect(presented, now());
    }
    if (!seen) return undefined;
    if (seen.rotate) {
      // The successor is drawn here and only its hash travels: its plaintext goes to this client alone.
      const fresh = newTicket();
      const to = ticketHash(fresh);
      await this.propose({ t: 'rotate', from: seen.hash, to });
      if (!tickets().inspect(presented, now())) return undefined; // revoked meanwhile
      // Another node's offer may have come first (one successor at most): then this client keeps its ticket.
      return { login: seen.login, current: tickets().successorOf(seen.hash, now()) === to ? fresh : presented };
    }
    if (seen.renew) {
      await this.propose({ t: 'renew', hash: seen.hash });
      if (!tickets().inspect(presented, now())) return undefined;
    }
    return { login: seen.login, current: presented };
  }

  async signOut(login: string): Promise<SignOutResult> {
    return (await this.propose({ t: 'signOut', login })) as SignOutResult;
  }

  runBatch(cmd: BatchCommand): Promise<CachedResponse> {
    return this.propose(streamedBatch(cmd)) as Promise<CachedResponse>;
  }

  runUcwa(login: string, op: UcwaOp): Promise<UcwaResult> {
    return this.propose({ t: 'ucwa', login, op }) as Promise<UcwaResult>;
  }

  /** A poll or WebSocket of the session showed activity (paced: see touch-pacer.ts). */
  touch(session: Session, ua?: boolean): Promise<void> {
    return this.touches.touch(session, ua);
  }

  /** Acknowledgements of many sessions in one command. */
  async ack(acks: [number, number][]): Promise<void> {
    await this.propose({ t: 'ack', acks });
  }

  async tick(): Promise<void> {
    await this.propose({ t: 'tick' });
  }

  /** Proposes a tick when no node has for a while (called often by every node; one usually wins). */
  async maybeTick(): Promise<void> {
    if (this.tickInFlight || !this.available()) return;
    // A little jitter so the nodes do not all propose at the same moment.
    if (this.opts.clock.now() - this.lastTickAt < this.tickEveryMs + Math.floor(Math.random() * 200)) return;
    this.tickInFlight = true;
    try {
      await this.tick();
    } finally {
      this.tickInFlight = false;
    }
  }

  async sync(): Promise<void> {
    if (!this.available()) throw new StoreUnavailableError('Redis is unavailable (the shared command stream cannot be reached)');
    let seq: number;
    try {
      seq = Number((await this.opts.redis.get(this.keys[1])) ?? 0);
    } catch (err) {
      throw new StoreUnavailableError(`Redis is unavailable: ${(err as Error).message}`, { cause: err });
    }
    if (this.applied >= seq) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreUnavailableError(`This node did not catch up within ${this.proposeTimeoutMs} ms`)), this.proposeTimeoutMs);
      this.syncWaiters.push({
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  // ---- following the stream -------------------------------------------------------

  private async follow(): Promise<void> {
    const { reader, logger } = this.opts;
    let target = -1; // the stream's end when this node started: caught up once applied
    while (this.running) {
      try {
        if (this.epoch === undefined) await this.join();
        if (this.refusal) break;
        if (this.wentBack !== undefined) {
          // The stream went back: Redis lost entries this node applied (a failover to a replica
          // that missed them, a restore from an older copy). New commands would reuse their
          // numbers, and no node may apply them over a different history: this node's state,
          // the most complete it knows, becomes the base of a new stream.
          const why = `the stream's end went back from ${this.applied} to ${this.wentBack}`;
          this.wentBack = undefined;
          const current = await this.reseed(this.epoch!, why);
          if (current !== this.replicaEpoch) this.epoch = undefined; // another node did it first: join its stream
          continue;
        }
        if (target < 0) target = Number((await reader.get(this.keys[1])) ?? 0);
        if (!this.caughtUp && this.applied >= target) this.caughtUp = true;
        this.readerUp = true;
        const res = (await reader.xread('COUNT', 512, 'BLOCK', 1000, 'STREAMS', this.keys[0], `0-${this.applied}`)) as
          | [string, [string, string[]][]][]
          | null;
        this.streamReadable();
        if (!res) {
          // Quiet stream: make sure it is still the one this node follows (Redis may have lost its data).
          const [epoch, seq] = await reader.mget(this.keys[2], this.keys[1]);
          if (epoch !== this.epoch) this.epoch = undefined;
          else if (Number(seq ?? 0) < this.applied) this.wentBack = Number(seq ?? 0);
          continue;
        }
        // The entries of one read are applied as one run: parsed first, then applied in order
        // (applyStream), counted once.
        const envs: Envelope[] = [];
        const seqs: number[] = [];
        const before = this.applied;
        let last = before;
        let trimmedAt: number | undefined;
        for (const [id, fields] of res[0]![1]) {
          const seq = Number(id.slice(id.indexOf('-') + 1));
          if (seq !== last + 1) {
            trimmedAt = seq;
            break;
          }
          last = seq;
          const raw = fields[fields.indexOf('c') + 1];
          try {
            envs.push(JSON.parse(raw ?? '') as Envelope);
            seqs.push(seq);
          } catch {
            // Every node fails on it alike, so passing over it keeps them equal; stopping would wedge them.
            logger.error({ seq }, 'cluster: an unreadable command in the stream was passed over');
          }
        }
        let k = 0;
        await applyStream(this.replica, envs, (env, outcome) => {
          this.applied = seqs[k++]!;
          this.settle(env, outcome);
        });
        const count = last - before;
        this.applied = last;
        if (count > 0) this.opts.metrics?.clusterApplied.inc(count);
        if (!this.caughtUp && this.applied >= target) this.caughtUp = true;
        if (trimmedAt !== undefined) {
          // Trimmed past this node (it was slow or away): continue from the snapshot.
          logger.warn({ applied: this.applied, next: trimmedAt }, 'cluster: the stream was trimmed past this node; loading the snapshot');
          await this.loadSnapshotOf(this.epoch!, true);
        }
        this.wakeSyncs();
        if (this.opts.snapshotEvery > 0 && this.applied - this.lastSnapshotSeq >= this.opts.snapshotEvery) await this.snapshot();
      } catch (err) {
        if (!this.running) break;
        this.readerUp = false;
        if (this.streamDown === undefined) {
          // Once per outage, not once per retry. A lost connection is already logged by
          // whoever watches the connections (server.ts, once per outage): debug then.
          const level = reader.status === 'ready' ? 'error' : 'debug';
          this.streamDown = { since: Date.now(), level };
          logger[level]({ err: (err as Error).message }, 'cluster: the command stream cannot be read; retrying every 200 ms until it can');
        }
        await delay(200);
      }
    }
  }

  /** A read of the stream succeeded: says so once at start, and once at the end of an outage (with its length). */
  private streamReadable(): void {
    const { logger } = this.opts;
    if (!this.followedOnce) {
      this.followedOnce = true;
      logger.info({ applied: this.applied }, 'cluster: following the command stream');
    }
    if (this.streamDown === undefined) return;
    const { since, level } = this.streamDown;
    this.streamDown = undefined;
    logger[level === 'error' ? 'info' : 'debug']({ applied: this.applied, outageMs: Date.now() - since }, 'cluster: the command stream can be read again');
  }

  /** Finds the stream to follow (at start, and whenever the one followed changed or vanished). */
  private async join(): Promise<void> {
    const { reader } = this.opts;
    const fingerprintKey = `${this.opts.prefix}fingerprint`;
    await reader.set(fingerprintKey, this.opts.fingerprint, 'NX');
    const theirs = await reader.get(fingerprintKey);
    if (theirs !== this.opts.fingerprint) {
      this.refusal = new Error(
        `this node's version, options or users differ from those of the nodes already on ${this.opts.prefix}cmd ` +
          '(every node of one cluster must run the same gateway version, the same state-shaping options and the same users file)',
      );
      this.opts.logger.error({ err: this.refusal.message }, 'cluster: this node cannot join');
      this.running = false;
      return;
    }
    await this.readClusterId();
    let current = await reader.get(this.keys[2]);
    if (current === null) {
      const fresh = newSeed();
      if (this.replicaEpoch !== undefined) {
        // Redis lost the stream this node followed, and this node still holds the state it
        // described: offer that as the new base, so sessions and conversations go on.
        current = await this.reseed('', 'Redis lost the command stream');
        if (current === this.replicaEpoch) {
          this.epoch = current;
          return;
        }
      } else {
        current = (await reader.eval(EPOCH, 5, ...this.keys, ...this.snapKeys.slice(0, 2), fresh)) as string;
      }
    }
    if (current === this.replicaEpoch) {
      this.epoch = current;
      return;
    }
    // A stream this replica does not come from: start from its snapshot, or from nothing.
    await this.loadSnapshotOf(current, false);
  }

  /**
   * The cluster's id: the one in Redis, or — the first node, or Redis lost its data — the one
   * this node knows (a fresh one if it knows none). Notices go on the channel named after it.
   */
  private async readClusterId(): Promise<void> {
    const { reader, prefix } = this.opts;
    await reader.set(this.clusterIdKey, this.clusterIdKnown ?? newSeed(), 'NX');
    const id = await reader.get(this.clusterIdKey);
    if (id === null) throw new Error(`${this.clusterIdKey} vanished while joining`);
    if (id !== this.clusterIdKnown) {
      if (this.clusterIdKnown !== undefined) this.opts.logger.warn({ was: this.clusterIdKnown, now: id }, 'cluster: the cluster id in Redis changed; following it');
      this.clusterIdKnown = id;
    }
    this.notices.listenOn(attachChannel(prefix, id));
  }

  /**
   * Writes this node's state as the base of a new stream, if the stream's epoch is still
   * `expected` ('' for none); returns the epoch in force afterwards (this node's new one, or
   * the one another node set first).
   */
  private async reseed(expected: string, why: string): Promise<string> {
    const fresh = newSeed();
    const bytes = writeSnapshot(this.replica, this.metaNow(fresh));
    const current = (await this.opts.reader.eval(
      RESEED,
      6,
      ...this.keys,
      ...this.snapKeys.slice(0, 2),
      this.clusterIdKey,
      fresh,
      this.applied,
      bytes,
      expected,
      this.clusterIdKnown ?? newSeed(),
    )) as string;
    if (current === fresh) {
      this.opts.logger.warn({ applied: this.applied, why }, 'cluster: the command stream starts again from this node\'s state');
      this.replicaEpoch = fresh;
      this.lastSnapshotSeq = this.applied;
    }
    return current;
  }

  /**
   * Makes the replica the state of stream `epoch` as its latest snapshot holds it (or empty
   * when it has none). `sameHistory`: the replica already follows that stream (it fell
   * behind a trim); otherwise what clients held on this node is gone and they are told.
   */
  private async loadSnapshotOf(epoch: string, sameHistory: boolean): Promise<void> {
    const { reader, logger } = this.opts;
    const bytes = await reader.getBuffer(this.snapKeys[0]);
    const meta = bytes ? readSnapshotMeta(bytes) : undefined;
    const usable = meta && meta.epoch === epoch && meta.v === SNAPSHOT_VERSION;
    if (sameHistory) {
      if (!usable || meta.seq <= this.applied) throw new Error(`the stream was trimmed past seq ${this.applied} and no newer snapshot exists`);
      this.install(this.replica, bytes!);
    } else {
      const replica = this.opts.makeReplica();
      if (usable) this.install(replica, bytes!);
      else {
        this.applied = 0;
        this.lastTickAt = 0;
        this.lastSnapshotSeq = 0;
      }
      const hadState = this.replicaEpoch !== undefined;
      this.replica = replica;
      if (hadState) {
        logger.warn({ epoch }, 'cluster: the command stream was replaced; this node now serves its state');
        for (const [o, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new StoreUnavailableError('The cluster state was replaced'));
          this.pending.delete(o);
        }
        this.opts.onStartOver?.();
      }
    }
    this.epoch = this.replicaEpoch = epoch;
  }

  private install(replica: Replica, bytes: Buffer): void {
    const meta = loadSnapshot(bytes, replica);
    replica.clock.set(meta.clock);
    this.applied = meta.seq;
    this.lastTickAt = meta.lastTickAt;
    this.lastSnapshotSeq = meta.seq;
    this.opts.metrics?.clusterSnapshotBytes.set(bytes.length);
    this.opts.logger.info({ seq: meta.seq, bytes: bytes.length }, 'cluster: snapshot loaded');
  }

  private metaNow(epoch: string) {
    return { v: SNAPSHOT_VERSION, epoch, seq: this.applied, clock: this.replica.clock.now(), lastTickAt: this.lastTickAt };
  }

  /** Writes a snapshot (one node at a time) and trims the stream to it. */
  private async snapshot(): Promise<void> {
    const { redis, logger, nodeId } = this.opts;
    this.lastSnapshotSeq = this.applied;
    const locked = await redis.set(this.snapKeys[2], nodeId, 'PX', 30_000, 'NX');
    if (locked !== 'OK') return; // another node is writing one
    try {
      const started = Date.now();
      const bytes = writeSnapshot(this.replica, this.metaNow(this.epoch!));
      const saved = await redis.eval(SAVE, 4, this.keys[0], this.keys[2], this.snapKeys[0], this.snapKeys[1], this.epoch!, this.applied, bytes);
      if (saved === 1) {
        this.opts.metrics?.clusterSnapshots.inc();
        this.opts.metrics?.clusterSnapshotBytes.set(bytes.length);
        logger.info({ seq: this.applied, bytes: bytes.length, ms: Date.now() - started }, 'cluster: snapshot written, stream trimmed');
      }
    } finally {
      await redis.del(this.snapKeys[2]).catch(() => undefined);
    }
  }

  /** A command was applied: its proposer (when this node) gets the outcome. */
  private settle(env: Envelope, { result, error }: { result?: unknown; error?: unknown }): void {
    if (error !== undefined) this.opts.logger.error({ err: error, command: env.c.t }, 'cluster: a command failed');
    if (env.c.t === 'tick') this.lastTickAt = Math.max(this.lastTickAt, env.now);
    const p = this.pending.get(env.o);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(env.o);
      if (error !== undefined) p.reject(error);
      else p.resolve(result);
    }
  }

  private wakeSyncs(): void {
    if (this.syncWaiters.length === 0) return;
    const still: typeof this.syncWaiters = [];
    for (const w of this.syncWaiters) (this.applied >= w.seq ? w.resolve() : still.push(w));
    this.syncWaiters = still;
  }
}

/** What a command left queued on the engine (a presence refresh) runs before the next command: waited for by this. */
const settled = (): undefined => undefined;

/**
 * Applies one command of the stream to a replica, at the command's time and with its seed:
 * what every node does with every command.
 */
export async function applyEnvelope(replica: Replica, env: Envelope): Promise<{ result?: unknown; error?: unknown }> {
  let outcome: { result?: unknown; error?: unknown } | undefined;
  await applyStream(replica, [env], (_env, o) => (outcome = o));
  return outcome!;
}

/**
 * Applies commands of the stream in order (what one read of the stream returned), each at its
 * time and with its seed, calling `each` with every command's outcome as it is applied (the
 * apply-rate bench replays a recorded stream through it).
 */
export async function applyStream(
  replica: Replica,
  envs: readonly Envelope[],
  each: (env: Envelope, outcome: { result?: unknown; error?: unknown }) => void,
): Promise<void> {
  const { state, clock, random } = replica;
  for (const env of envs) {
    clock.advanceTo(env.now);
    random.reseed(env.seed);
    let outcome: { result?: unknown; error?: unknown };
    try {
      // A command that completes at once (most batches, acks) is applied without a promise.
      const applied = state.apply(env.c);
      const result = applied instanceof Promise ? await applied : applied;
      // Work the command queued on the engine (a presence refresh) runs with this command's time and seed.
      const queued = state.engine.exclusiveNow(settled);
      if (queued instanceof Promise) await queued;
      outcome = { result };
    } catch (error) {
      outcome = { error: error ?? new Error('a command failed') };
    }
    each(env, outcome);
  }
}

/**
 * A batch as the shared stream carries it: its typed requests without what the door parsed
 * them from, and, for duplicate detection, the SHA-1 of its text instead of the text.
 */
export function streamedBatch(cmd: BatchCommand): Command {
  const { body, batch, ...rest } = cmd;
  return { t: 'batch', ...rest, batch: portableBatch(batch), ...(body !== undefined ? { body: digestOf('sha1', body, 'base64') } : {}) };
}

/** The replica a node serves from (benchmarks and tests look inside). */
export function replicaPartsOf(node: RedisCoordinator): Replica {
  return (node as unknown as { replica: Replica }).replica;
}
