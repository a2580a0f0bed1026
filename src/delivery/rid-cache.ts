// Duplicate command batches: a client that lost a response re-sends the same batch
// (same session, same rids, same body). It gets the cached response, and nothing runs
// twice. A batch still running when its twin arrives is awaited, not re-run.

export interface CachedResponse {
  status: number;
  body: string;
}

export class RidCache {
  private readonly scopes = new Map<string, Map<string, Promise<CachedResponse>>>();

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
      if (hit) return { response: await hit, replayed: true };
    } else {
      entries = new Map();
      this.scopes.set(scope, entries);
      if (this.scopes.size > this.maxScopes) this.scopes.delete(this.scopes.keys().next().value!);
    }
    const pending = produce();
    entries.set(key, pending);
    if (entries.size > this.perScope) entries.delete(entries.keys().next().value!);
    try {
      return { response: await pending, replayed: false };
    } catch (err) {
      entries.delete(key);
      throw err;
    }
  }

  dropScope(scope: string): void {
    this.scopes.delete(scope);
  }

  size(): number {
    return this.scopes.size;
  }
}
