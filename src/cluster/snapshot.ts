// A cluster node's whole state at one position of the command stream, as bytes: what a
// node starting (or one that fell behind a trimmed stream) loads instead of replaying
// the stream from its beginning, and what lets the stream be trimmed at all.
//
// The state is an object graph (sessions, conversations and their legs, endpoints …)
// with shared references and cycles. v8's structured serializer keeps those, Maps and
// Sets included, but not classes: instances of the engine's classes carry their class's
// name (`snapshotClass`) and get their prototype back when a snapshot is loaded. The UCWA
// door's state (protocol/ucwa/state.ts) is plain data beside the engine's.
import { deserialize, serialize } from 'node:v8';
import type { MemoryEventLog } from '../delivery/event-log.js';
import { Conversation } from '../engine/conversation.js';
import type { EngineState } from '../engine/engine.js';
import { Session } from '../engine/session.js';
import type { MemoryUserDataStore } from '../store/memory.js';
import type { GatewayState } from './state.js';

export const SNAPSHOT_VERSION = 4;

/** Where a snapshot stands in the stream. */
export interface SnapshotMeta {
  v: number;
  epoch: string;
  /** The last command applied to the state it holds. */
  seq: number;
  /** The replica clock then. */
  clock: number;
  /** Proposer time of the last tick applied. */
  lastTickAt: number;
}

/** The bytes: a 4-byte length, the meta as JSON (read alone, cheaply), then the v8-serialized body. */
interface SnapshotBody {
  engine: EngineState;
  store: ReturnType<MemoryUserDataStore['exportState']>;
  logs: ReturnType<MemoryEventLog['exportState']>;
  rid: ReturnType<GatewayState['ridCache']['exportState']>;
  /** The UCWA door's applications: conversations <-> confIds, invitation and message ids, operationIds, ack numbering, subscriptions. */
  ucwa: ReturnType<GatewayState['ucwa']['exportState']>;
}

/** The parts of a replica a snapshot holds. */
export interface SnapshotParts {
  state: GatewayState;
  logs: MemoryEventLog;
  store: MemoryUserDataStore;
}

const CLASSES: Record<string, { prototype: object }> = { Session, Conversation };
const TAG = 'snapshotClass';

/** Visits every object reachable from `root` once (arrays, plain objects, instances, Maps, Sets). */
function walk(root: unknown, visit: (o: object) => void): void {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) continue;
    visit(v);
    if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set) for (const x of v) stack.push(x);
    else for (const x of Object.values(v)) stack.push(x);
  }
}

export function writeSnapshot(parts: SnapshotParts, meta: SnapshotMeta): Buffer {
  const body: SnapshotBody = {
    engine: parts.state.engine.exportState(),
    store: parts.store.exportState(),
    logs: parts.logs.exportState(),
    rid: parts.state.ridCache.exportState(),
    ucwa: parts.state.ucwa.exportState(),
  };
  const head = Buffer.from(JSON.stringify(meta));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([len, head, serialize(body)]);
}

/** The snapshot's position, without loading it. */
export function readSnapshotMeta(bytes: Buffer): SnapshotMeta {
  const len = bytes.readUInt32BE(0);
  return JSON.parse(bytes.subarray(4, 4 + len).toString('utf8')) as SnapshotMeta;
}

/** Loads a snapshot into an empty replica; returns where it stands. */
export function loadSnapshot(bytes: Buffer, parts: SnapshotParts): SnapshotMeta {
  const meta = readSnapshotMeta(bytes);
  if (meta.v !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${String(meta.v)} is not ${SNAPSHOT_VERSION}`);
  const body = deserialize(bytes.subarray(4 + bytes.readUInt32BE(0))) as SnapshotBody;
  walk(body, (o) => {
    const name = (o as Record<string, unknown>)[TAG];
    if (typeof name === 'string' && CLASSES[name] && !(o instanceof Map) && !(o instanceof Set)) Object.setPrototypeOf(o, CLASSES[name].prototype);
  });
  parts.state.engine.importState(body.engine);
  parts.store.importState(body.store);
  parts.logs.importState(body.logs);
  parts.state.ridCache.importState(body.rid);
  parts.state.ucwa.importState(body.ucwa);
  return meta;
}
