// Duplicate command batches: a client that lost a response re-sends the same batch
// (same session, same rids, same body). It gets the cached response, and nothing runs
// twice. A batch still running when its twin arrives is awaited, not re-run.
//
// Entries are found by their rids; the body is compared only when the rids repeat. Each
// entry keeps the body it was run for (a single gateway: the text itself, so nothing is
// computed per batch; a cluster's commands carry a digest of it instead), and a batch
// that reuses rids with another body runs as a new batch, kept beside the first under its
// rids and body together (`reusedKey`), so a retry of either is still answered.
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

/** A batch's answer, and whether it was the one kept (a retry) rather than a fresh run. */
export interface RunOutcome {
  response: CachedResponse;
  replayed: boolean;
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
  /** Its key in the scope: the rids, or for a batch that reused another's rids, the rids with its body (`reusedKey`). */
  key: string;
  /** What the batch was run for besides its rids: its body, or its digest. */
  body: string;
  /** Twins that arrived while the batch ran (none, nearly always): they get its answer or its failure. */
  twins?: { resolve: (r: CachedResponse) => void; reject: (e: unknown) => void }[];
  /** Set once the batch answered (what a snapshot of the cache keeps). */
  value?: CachedResponse;
  sessions: number[];
  started: number[];
  /** Counted against `maxBytes` once answered. */
  bytes: number;
}

/** A snapshot's form: [scope, [key, body, answer, sessions, started][]][], oldest scope first. */
export type RidCacheState = [string, [string, string, CachedResponse, number[], number[]][]][];

/**
 * The key of a batch that reused the rids of another one still kept, with a body of its
 * own. U+0001 cannot occur in rids (XML 1.0 forbids it), so this key is never a batch's rids.
 */
const reusedKey = (rids: string, body: string): string => `${rids}\u0001${body}`;
const isReusedKey = (key: string): boolean => key.includes('\u0001');

/** Bookkeeping per entry beyond its strings (Map slots, objects): a rough, fixed figure. */
const ENTRY_OVERHEAD = 160;

/**
 * A scope's entries: the entry itself while it has one (most scopes: the `initiateSession`
 * answer of a ticket, the last batch of a session), a Map by key from the second on. Every
 * session holds a scope for as long as it lives, and a Map or Set of one costs about 170
 * bytes more than the entry it holds.
 */
type Scope = Entry | Map<string, Entry>;
/**
 * The entries describing one session: one entry, or from the second on an array, oldest
 * first (a session's batches come and go in that order: the oldest is removed first, at
 * the array's start; a Set would be rehashed as they churn).
 */
type AboutSession = Entry | Entry[];

/** No session: one shared empty array (never written to) rather than one per entry; most entries started no session. */
const NONE: number[] = [];

/** The sids of `a` then `b` without repeats (most batches: one session, none started, nothing to merge: `a` itself). */
function union(a: number[], b: number[]): number[] {
  if (b.length === 0 && a.length <= 1) return a.length === 0 ? NONE : a;
  return [...new Set([...a, ...b])];
}

const firstOf = (scope: Scope): Entry => (scope instanceof Map ? scope.values().next().value! : scope);
const entriesOf = (scope: Scope): Entry[] => (scope instanceof Map ? [...scope.values()] : [scope]);

export class RidCache {
  private readonly scopes = new Map<string, Scope>();
  /** sid -> entries describing that session. */
  private readonly bySession = new Map<number, AboutSession>();
  private totalBytes = 0;
  /** Scopes holding entries under a `reusedKey`, and how many (nearly always none). */
  private readonly reused = new Map<string, number>();

  constructor(
    /** Responses kept per scope (session, or ticket before a session exists). */
    private readonly perScope: number,
    /** Scopes kept at most; the least recently used are dropped first. */
    private readonly maxScopes = 100_000,
    /** Approximate bytes of answers and keys kept at most (string lengths plus a fixed overhead per entry). */
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * Returns the cached response for the batch with these `rids` (joined) and this `body`
   * in `scope`, or runs `produce`, caches its result (unless it says not to) and returns
   * it. A produce that throws is not cached. At once, without a promise, when the answer is
   * kept or `produce` completes synchronously.
   */
  run(scope: string, rids: string, body: string, produce: () => ProducedResponse | Promise<ProducedResponse>): RunOutcome | Promise<RunOutcome> {
    const entries = this.scopes.get(scope);
    let key = rids;
    if (entries) {
      // Refresh the scope's position (Map keeps insertion order).
      this.scopes.delete(scope);
      this.scopes.set(scope, entries);
      let hit = this.lookup(scope, rids);
      if (hit && hit.body !== body) {
        // The rids repeat with another body: a batch of its own, kept under its rids and body.
        key = reusedKey(rids, body);
        hit = this.lookup(scope, key);
      } else if (!hit && this.reused.has(scope)) {
        // The first batch with these rids is gone; one that reused them may still be kept.
        hit = this.lookup(scope, reusedKey(rids, body));
        if (hit) key = hit.key;
      }
      if (hit) {
        if (hit.value) return { response: hit.value, replayed: true };
        // Still running: wait for it (a promise only for the rare twin, not for every batch).
        return new Promise<CachedResponse>((resolve, reject) => (hit.twins ??= []).push({ resolve, reject })).then((response) => ({ response, replayed: true }));
      }
    }
    const entry: Entry = { scope, key, body, sessions: NONE, started: NONE, bytes: 0 };
    this.insert(entry);
    if (!entries && this.scopes.size > this.maxScopes) this.dropScope(this.scopes.keys().next().value!);
    const own = this.scopes.get(scope);
    if (own instanceof Map && own.size > this.perScope) this.remove(own.values().next().value!);
    let produced: ProducedResponse | Promise<ProducedResponse>;
    try {
      produced = produce();
    } catch (err) {
      this.failed(entry, err);
      return Promise.reject(err);
    }
    if (produced instanceof Promise) {
      return produced.then(
        (p) => this.answered(entry, p),
        (err: unknown) => {
          this.failed(entry, err);
          throw err;
        },
      );
    }
    return this.answered(entry, produced);
  }

  private answered(entry: Entry, produced: ProducedResponse): RunOutcome {
    for (const t of entry.twins ?? []) t.resolve(produced.response);
    entry.twins = undefined;
    // Dropped while it ran (its scope was evicted or its session ended), or not to be kept.
    if (this.lookup(entry.scope, entry.key) !== entry || !produced.keep) this.remove(entry);
    else this.settle(entry, produced);
    return { response: produced.response, replayed: false };
  }

  private failed(entry: Entry, err: unknown): void {
    this.remove(entry);
    for (const t of entry.twins ?? []) t.reject(err);
    entry.twins = undefined;
  }

  private lookup(scope: string, key: string): Entry | undefined {
    const entries = this.scopes.get(scope);
    if (entries instanceof Map) return entries.get(key);
    return entries?.key === key ? entries : undefined;
  }

  /** Adds `entry` to its scope (at the scope's current place in the LRU order, or last). */
  private insert(entry: Entry): void {
    if (isReusedKey(entry.key)) this.reused.set(entry.scope, (this.reused.get(entry.scope) ?? 0) + 1);
    const entries = this.scopes.get(entry.scope);
    if (entries === undefined) this.scopes.set(entry.scope, entry);
    else if (entries instanceof Map) entries.set(entry.key, entry);
    else this.scopes.set(entry.scope, new Map([[entries.key, entries], [entry.key, entry]]));
  }

  /** Records an answered entry: its sessions and its size; then evicts down to `maxBytes`. */
  private settle(entry: Entry, produced: ProducedResponse): void {
    entry.value = produced.response;
    // The arrays the answer came with are its own: kept as they are when there is nothing to merge.
    entry.sessions = union(produced.sessions, produced.started);
    entry.started = union(produced.started, NONE);
    for (const sid of entry.sessions) {
      const about = this.bySession.get(sid);
      if (about === undefined) this.bySession.set(sid, entry);
      else if (Array.isArray(about)) {
        if (!about.includes(entry)) about.push(entry);
      } else if (about !== entry) this.bySession.set(sid, [about, entry]);
    }
    entry.bytes = ENTRY_OVERHEAD + entry.scope.length + entry.key.length + entry.body.length + produced.response.body.length;
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
    let removed = false;
    if (entries === entry) {
      this.scopes.delete(entry.scope);
      removed = true;
    } else if (entries instanceof Map && entries.get(entry.key) === entry) {
      entries.delete(entry.key);
      removed = true;
      // Back to the entry itself (Map.set on a present key keeps the scope's place).
      if (entries.size === 1) this.scopes.set(entry.scope, firstOf(entries));
      else if (entries.size === 0) this.scopes.delete(entry.scope);
    }
    if (removed && this.reused.size > 0 && isReusedKey(entry.key)) {
      const n = this.reused.get(entry.scope)! - 1;
      if (n === 0) this.reused.delete(entry.scope);
      else this.reused.set(entry.scope, n);
    }
    for (const sid of entry.sessions) {
      const about = this.bySession.get(sid);
      if (about === entry) this.bySession.delete(sid);
      else if (Array.isArray(about)) {
        const at = about.indexOf(entry);
        if (at >= 0) about.splice(at, 1);
        if (about.length === 1) this.bySession.set(sid, about[0]!);
        else if (about.length === 0) this.bySession.delete(sid);
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
      const done: [string, string, CachedResponse, number[], number[]][] = [];
      for (const e of entriesOf(entries)) if (e.value) done.push([e.key, e.body, e.value, e.sessions, e.started]);
      out.push([scope, done]);
    }
    return out;
  }

  importState(state: RidCacheState): void {
    this.scopes.clear();
    this.bySession.clear();
    this.reused.clear();
    this.totalBytes = 0;
    for (const [scope, entries] of state) {
      // A scope whose only batch was still running keeps its place in the LRU order.
      if (entries.length === 0) this.scopes.set(scope, new Map());
      for (const [key, body, value, sessions, started] of entries) {
        const entry: Entry = { scope, key, body, sessions: NONE, started: NONE, bytes: 0 };
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
    return about === undefined ? [] : Array.isArray(about) ? about.slice() : [about];
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
