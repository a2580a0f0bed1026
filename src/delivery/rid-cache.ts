// Duplicate command batches: a client that lost a response re-sends the same batch
// (same session, same rids, same body). It gets the cached response, and nothing runs
// twice. A batch still running when its twin arrives is awaited, not re-run.

export interface CachedResponse {
  status: number;
  body: string;
}

interface Entry {
  pending: Promise<CachedResponse>;
  /** Set once `pending` resolved (what a snapshot of the cache keeps). */
  value?: CachedResponse;
}

export class RidCache {
  private readonly scopes = new Map<string, Map<string, Entry>>();

  constructor(
    /** Responses kept per scope (session, or ticket before a session exists). */
    private readonly perScope: number,
    /** Scopes kept at most; the least recently used are dropped first. */
    private readonly maxScopes = 100_000,
  ) {}

  /**
   * Returns the cached response for `key` in `scope`, or runs `produce`, caches its
   * result and returns it. A produce that throws is not cached.
   */
  async run(scope: string, key: string, produce: () => Promise<CachedResponse>): Promise<{ response: CachedResponse; replayed: boolean }> {
    let entries = this.scopes.get(scope);
    if (entries) {
      // Refresh the scope's position (Map keeps insertion order).
      this.scopes.delete(scope);
      this.scopes.set(scope, entries);
      const hit = entries.get(key);
      if (hit) return { response: hit.value ?? (await hit.pending), replayed: true };
    } else {
      entries = new Map();
      this.scopes.set(scope, entries);
      if (this.scopes.size > this.maxScopes) this.scopes.delete(this.scopes.keys().next().value!);
    }
    const entry: Entry = { pending: produce() };
    entries.set(key, entry);
    if (entries.size > this.perScope) entries.delete(entries.keys().next().value!);
    try {
      entry.value = await entry.pending;
      return { response: entry.value, replayed: false };
    } catch (err) {
      entries.delete(key);
      throw err;
    }
  }

  /** The answered entries, oldest scope first (a cluster node's snapshot). */
  exportState(): [string, [string, CachedResponse][]][] {
    const out: [string, [string, CachedResponse][]][] = [];
    for (const [scope, entries] of this.scopes) {
      const done: [string, CachedResponse][] = [];
      for (const [key, e] of entries) if (e.value) done.push([key, e.value]);
      out.push([scope, done]);
    }
    return out;
  }

  importState(state: [string, [string, CachedResponse][]][]): void {
    this.scopes.clear();
    for (const [scope, entries] of state) {
      this.scopes.set(scope, new Map(entries.map(([key, value]) => [key, { pending: Promise.resolve(value), value }])));
    }
  }

  dropScope(scope: string): void {
    this.scopes.delete(scope);
  }

  size(): number {
    return this.scopes.size;
  }
}
