// The replicated state of a cluster node as canonical text, to compare two replicas.
import type { Replica } from '../../src/cluster/redis-coordinator.js';
import { expect } from 'chai';
import type { Gateway } from '../../src/server.js';
import type { TestGateway } from './gateway.js';

/**
 * A canonical text of an object graph: objects numbered in the order first met (so shared
 * references and cycles show), Maps and Sets as their entries, class instances by class.
 */
export function canonical(root: unknown): string {
  const ids = new Map<object, number>();
  const out = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v === undefined ? '<undefined>' : v;
    const seen = ids.get(v);
    if (seen !== undefined) return `<ref ${seen}>`;
    ids.set(v, ids.size);
    const kind = v.constructor?.name ?? 'null-proto';
    if (v instanceof Map) return { kind, id: ids.get(v), entries: [...v].map(([k, x]) => [out(k), out(x)]) };
    if (v instanceof Set) return { kind, id: ids.get(v), values: [...v].map(out) };
    if (Array.isArray(v)) return { kind, id: ids.get(v), items: v.map(out) };
    return { kind, id: ids.get(v), fields: Object.entries(v).map(([k, x]) => [k, out(x)]) };
  };
  return JSON.stringify(out(root));
}

export function stateOf(r: Replica, part?: 'engine' | 'store' | 'logs' | 'rid' | 'ucwa'): string {
  const all = { engine: r.state.engine.exportState(), store: r.store.exportState(), logs: r.logs.exportState(), rid: r.state.ridCache.exportState(), ucwa: r.state.ucwa.exportState() };
  return canonical(part ? all[part] : all);
}

/** A cluster node's replica (tests look inside). */
export function replicaOf(gw: Gateway): Replica {
  return (gw.cluster as unknown as { replica: Replica }).replica;
}

/** Waits until every node has applied the whole stream, then compares their replicas. */
export async function sameStateOnEveryNode(nodes: TestGateway[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    for (const n of nodes) await n.gateway.coordinator.sync();
    const positions = nodes.map((n) => n.gateway.cluster!.position);
    // The nodes share this process: nothing is applied between these synchronous dumps.
    if (positions.every((p) => p === positions[0])) {
      const [first, ...others] = nodes.map((n) => stateOf(replicaOf(n.gateway)));
      for (const [i, other] of others.entries()) expect(other === first, `node ${i + 1}'s state differs from node 0's at ${positions[0]}`).to.equal(true);
      return;
    }
    if (attempt > 50) throw new Error(`the nodes did not settle on one position: ${positions.join(', ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
