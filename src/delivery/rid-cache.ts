// Duplicate command batches: a client that lost a response re-sends the same batch
// (same session, same rids, same body). It gets the cached response, and nothing runs
// twice. A batch still running when its twin arrives is awaited, not re-run.
//
// An answer is kept only while what it describes exists: each entry names the sessions
// its batch acted in and those it started. The answer that started a session goes when
// the session ends (an `initiateSession` repeated after the session ended starts a new
// one, it is not answered with the old sid); the others go with the session's log (at
// once after terminateSession, after the grace period when the gateway ended it), so a
// client retrying a batch whose answer it lost still learns what became of it. The cache is bounded by entries per scope, by scopes, and by bytes; the
// least recently used scopes go first. Every bound is a function of the commands alone,
// so the nodes of a cluster evict alike.

export interface CachedResponse {
  status: number;
  body: string;
  /** The reasons (engine/outcomes.ts) of the answer's refused requests, in order: what metrics count, on a replay too. */
  refusals?: string[];
}

/** What running a batch gave: its answer, and the sessions the answer describes. */
export interface ProducedResponse {
  response: CachedResponse;
  /** Sessions the batch acted in or started: the entry goes when the log of one of them is removed. */
  sessions: number[];
  /** Sessions the batch started: the entry goes when one of them ends. */
  started: number[];
  /** False when the answer describes a state already gone (the batch ended its session): it is not kept. */
  keep: boolean;
}

interface Entry {
  scope: string;
  key: string;
  /** Twins that arrived while the batch ran (none, nearly always): they get its answer or its failure. */
  twins?: { resolve: (r: CachedResponse) => void; reject: (e: unknown) => void }[];
  /** Set once the batch answered (what a snapshot of the cache keeps). */
  value?: CachedResponse;
  sessions: number[];
  started: number[];
  /** Counted against `maxBytes` once answered. */
  bytes: number;
}

/** A snapshot's form: [scope, [key, answer, sessions, started][]][], oldest scope first. */
export type RidCacheState = [string, [string, CachedResponse, number[], number[]][]][];

/** Bookkeeping per entry beyond its strings (Map slots, objects): a rough, fixed figure. */
const ENTRY_OVERHEAD = 160;

/**
 * A scope's entries: the entry itself while it has one (most scopes: the `initiateSession`
 * answer of a ticket, the last batch of a session), a Map by key from the second on. Every
 * session holds a scope for as long as it lives, and a Map or Set of one costs about 170
 * bytes more than the entry it holds.
 */
type Scope = Entry | Map<string, Entry>;
/** The entries describing one session: one entry, or a Set from the second on. */
type AboutSession = Entry | Set<Entry>;

const NONE: number[] = [];

/** The sids of `a` then `b` without repeats (most batches: one session, none started, nothing to merge). */
function union(a: number[], b: number[]): number[] {
  // One shared empty array (never written to) rather than one per entry: most entries started no session.
  if (a.length === 0 && b.length === 0) return NONE;
  if (b.length === 0 && a.length <= 1) return a.slice();
  return [...new Set([...a, ...b])];
}

const firstOf = (scope: Scope): Entry => (scope instanceof Map ? scope.values().next().value! : scope);
const entriesOf = (scope: Scope): Entry[] => (scope instanceof Map ? [...scope.values()] : [scope]);

export class RidCache {
  private readonly scopes = new Map<string, Scope>();
  /** sid -> entries describing that session. */
  private readonly bySession = new Map<number, AboutSession>();
  private totalBytes = 0;

  constructor(
    /** Responses kept per scope (session, or ticket before a session exists). */
    private readonly perScope: number,
    /** Scopes kept at most; the least recently used are dropped first. */
    private readonly maxScopes = 100_000,
    /** Approximate bytes of answers and keys kept at most (string lengths plus a fixed overhead per entry). */
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Returns the cached response for `key` in `scope`, or runs `produce`, caches its
   * result (unless it says not to) and returns it. A produce that throws is not cached.
   */
  async run(scope: string, key: string, produce: () => Promise<ProducedResponse>): Promise<{ response: CachedResponse; replayed: boolean }> {
    const entries = this.scopes.get(scope);
    if (entries) {
      // Refresh the scope's position (Map keeps insertion order).
      this.scopes.delete(scope);
      this.scopes.set(scope, entries);
      const hit = this.lookup(scope, key);
      if (hit) {
        if (hit.value) return { response: hit.value, replayed: true };
        // Still running: wait for it (a promise only for the rare twin, not for every batch).
        const response = await new Promise<CachedResponse>((resolve, reject) => (hit.twins ??= []).push({ resolve, reject }));
        return { response, replayed: true };
      }
    }
    const entry: Entry = { scope, key, sessions: NONE, started: NONE, bytes: 0 };
    this.insert(entry);
    if (!entries && this.scopes.size > this.maxScopes) this.dropScope(this.scopes.keys().next().value!);
    const own = this.scopes.get(scope);
    if (own instanceof Map && own.size > this.perScope) this.remove(own.values().next().value!);
    let produced: ProducedResponse;
    try {
      produced = await produce();
    } catch (err) {
      this.remove(entry);
      for (const t of entry.twins ?? []) t.reject(err);
      entry.twins = undefined;
      throw err;
    }
    for (const t of entry.twins ?? []) t.resolve(produced.response);
    entry.twins = undefined;
    // Dropped while it ran (its scope was evicted or its session ended), or not to be kept.
    if (this.lookup(scope, key) !== entry || !produced.keep) this.remove(entry);
    else this.settle(entry, produced);
    return { response: produced.response, replayed: false };
  }

  private lookup(scope: string, key: string): Entry | undefined {
    const entries = this.scopes.get(scope);
    if (entries instanceof Map) return entries.get(key);
    return entries?.key === key ? entries : undefined;
  }

  /** Adds `entry` to its scope (at the scope's current place in the LRU order, or last). */
  private insert(entry: Entry): void {
    const entries = this.scopes.get(entry.scope);
    if (entries === undefined) this.scopes.set(entry.scope, entry);
    else if (entries instanceof Map) entries.set(entry.key, entry);
    else this.scopes.set(entry.scope, new Map([[entries.key, entries], [entry.key, entry]]));
  }

  /** Records an answered entry: its sessions and its size; then evicts down to `maxBytes`. */
  private settle(entry: Entry, produced: ProducedResponse): void {
    entry.value = produced.response;
    entry.sessions = union(produced.sessions, produced.started);
    entry.started = union(produced.started, []);
    for (const sid of entry.sessions) {
      const about = this.bySession.get(sid);
      if (about === undefined) this.bySession.set(sid, entry);
      else if (about instanceof Set) about.add(entry);
      else if (about !== entry) this.bySession.set(sid, new Set([about, entry]));
    }
    entry.bytes = ENTRY_OVERHEAD + entry.scope.length + entry.key.length + produced.response.body.length;
    this.totalBytes += entry.bytes;
    // Least recently used scopes first; the entry just answered is the last to go.
    while (this.totalBytes > this.maxBytes) {
      const oldest = this.scopes.keys().next().value!;
      if (oldest === entry.scope) {
        const first = firstOf(this.scopes.get(oldest)!);
        this.remove(first);
        if (first === entry) break;
      } else this.dropScope(oldest);
    }
  }

  private remove(entry: Entry): void {
    const entries = this.scopes.get(entry.scope);
    if (entries === entry) this.scopes.delete(entry.scope);
    else if (entries instanceof Map && entries.get(entry.key) === entry) {
      entries.delete(entry.key);
      // Back to the entry itself (Map.set on a present key keeps the scope's place).
      if (entries.size === 1) this.scopes.set(entry.scope, firstOf(entries));
      else if (entries.size === 0) this.scopes.delete(entry.scope);
    }
    for (const sid of entry.sessions) {
      const about = this.bySession.get(sid);
      if (about === entry) this.bySession.delete(sid);
      else if (about instanceof Set) {
        about.delete(entry);
        if (about.size === 1) this.bySession.set(sid, about.values().next().value!);
        else if (about.size === 0) this.bySession.delete(sid);
      }
    }
    this.totalBytes -= entry.bytes;
    entry.bytes = 0;
    entry.sessions = NONE;
    entry.started = NONE;
  }

  /** The answered entries, oldest scope first (a cluster node's snapshot). */
  exportState(): RidCacheState {
    const out: RidCacheState = [];
    for (const [scope, entries] of this.scopes) {
      const done: [string, CachedResponse, number[], number[]][] = [];
      for (const e of entriesOf(entries)) if (e.value) done.push([e.key, e.value, e.sessions, e.started]);
      out.push([scope, done]);
    }
    return out;
  }

  importState(state: RidCacheState): void {
    this.scopes.clear();
    this.bySession.clear();
    this.totalBytes = 0;
    for (const [scope, entries] of state) {
      // A scope whose only batch was still running keeps its place in the LRU order.
      if (entries.length === 0) this.scopes.set(scope, new Map());
      for (const [key, value, sessions, started] of entries) {
        const entry: Entry = { scope, key, sessions: NONE, started: NONE, bytes: 0 };
        this.insert(entry);
        this.settle(entry, { response: value, sessions, started, keep: true });
      }
    }
  }

  dropScope(scope: string): void {
    const entries = this.scopes.get(scope);
    if (!entries) return;
    for (const e of entriesOf(entries)) this.remove(e);
    this.scopes.delete(scope);
  }

  private about(sid: number): Entry[] {
    const about = this.bySession.get(sid);
    return about === undefined ? [] : about instanceof Set ? [...about] : [about];
  }

  /** A session ended: the answer that started it goes. */
  sessionEnded(sid: number): void {
    for (const e of this.about(sid)) if (e.started.includes(sid)) this.remove(e);
  }

  /** A session's log was removed: every answer about it goes. */
  sessionRemoved(sid: number): void {
    for (const e of this.about(sid)) this.remove(e);
  }

  size(): number {
    return this.scopes.size;
  }

  /** Entries kept, and their approximate bytes. */
  usage(): { scopes: number; entries: number; bytes: number; sessions: number } {
    let entries = 0;
    for (const m of this.scopes.values()) entries += m instanceof Map ? m.size : 1;
    return { scopes: this.scopes.size, entries, bytes: this.totalBytes, sessions: this.bySession.size };
  }
}
