// Helpers for the state a cluster node writes to and reads from a snapshot
// (cluster/snapshot.ts): each service exports its mutable fields and takes them back.

/** Replaces a Map's or Set's content (fields are readonly; their content is the state). */
export function refill<K, V>(target: Map<K, V>, from: Map<K, V>): void;
export function refill<T>(target: Set<T>, from: Set<T>): void;
export function refill(target: Map<unknown, unknown> | Set<unknown>, from: Map<unknown, unknown> | Set<unknown>): void {
  target.clear();
  if (target instanceof Map) for (const [k, v] of from as Map<unknown, unknown>) target.set(k, v);
  else for (const v of from as Set<unknown>) target.add(v);
}
