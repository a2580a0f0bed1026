// A cluster node's whole state at one position of the command stream, as bytes: what a
// node starting (or one that fell behind a trimmed stream) loads instead of replaying
// the stream from its beginning, and what lets the stream be trimmed at all.
//
// The state is an object graph (sessions, conversations and their legs, endpoints …)
// with shared references and cycles. v8's structured serializer keeps those, Maps and
// Sets included, but not classes: instances of the engine's classes are tagged with
// their class before serializing and get their prototype back after.
import { deserialize, serialize } from 'node:v8';
import type { MemoryEventLog } from '../delivery/event-log.js';
import { Conversation } from '../engine/conversation.js';
import type { EngineState } from '../engine/engine.js';
import { Session } from '../engine/session.js';
import type { MemoryUserDataStore } from '../store/memory.js';
import type { GatewayState } from './state.js';

export const SNAPSHOT_VERSION = 1;

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

interface SnapshotBody {
  meta: SnapshotMeta;
  engine: EngineState;
  store: ReturnType<MemoryUserDataStore['exportState']>;
  logs: ReturnType<MemoryEventLog['exportState']>;
  rid: ReturnType<GatewayState['ridCache']['exportState']>;
}

/** The parts of a replica a snapshot holds. */
export interface SnapshotParts {
  state: GatewayState;
  logs: MemoryEventLog;
  store: MemoryUserDataStore;
}

const CLASSES: Record<string, { prototype: object }> = { Session, Conversation };
const TAG = '__cwaClass';

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
    meta,
    engine: parts.state.engine.exportState(),
    store: parts.store.exportState(),
    logs: parts.logs.exportState(),
    rid: parts.state.ridCache.exportState(),
  };
  const tagged: Record<string, unknown>[] = [];
  walk(body, (o) => {
    for (const [name, cls] of Object.entries(CLASSES)) {
      if (Object.getPrototypeOf(o) === cls.prototype) {
        (o as Record<string, unknown>)[TAG] = name;
        tagged.push(o as Record<string, unknown>);
      }
    }
  });
  try {
    return serialize(body);
  } finally {
    for (const o of tagged) delete o[TAG];
  }
}

/** The snapshot's position, without loading it. */
export function readSnapshotMeta(bytes: Buffer): SnapshotMeta {
  return (deserialize(bytes) as SnapshotBody).meta;
}

/** Loads a snapshot into an empty replica; returns where it stands. */
export function loadSnapshot(bytes: Buffer, parts: SnapshotParts): SnapshotMeta {
  const body = deserialize(bytes) as SnapshotBody;
  if (body.meta?.v !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${String(body.meta?.v)} is not ${SNAPSHOT_VERSION}`);
  walk(body, (o) => {
    const name = (o as Record<string, unknown>)[TAG];
    if (typeof name === 'string' && CLASSES[name]) {
      Object.setPrototypeOf(o, CLASSES[name].prototype);
      delete (o as Record<string, unknown>)[TAG];
    }
  });
  parts.state.engine.importState(body.engine);
  parts.store.importState(body.store);
  parts.logs.importState(body.logs);
  parts.state.ridCache.importState(body.rid);
  return body.meta;
}
