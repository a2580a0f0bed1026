// Directory search: firstName / lastName / displayName / emailAlias, combined with and|or,
// prefix matches without case, capped at a configurable number of results.
import type { EngineCore, EngineModule, RequestOf } from './module.js';
import type { DirectoryUser } from './ports.js';
import type { Session } from './session.js';
import type { ResponseItem } from './types.js';
import type { SearchInput, SearchUser } from './user-data-types.js';

export interface SearchConfig {
  maxResults: number;
  defaultFunction: 'and' | 'or';
}

const starts = (value: string | undefined, prefix: string) => !!value && value.toLowerCase().startsWith(prefix);

/** Each field's test: a user matches a field when any of its values matches. */
const FIELDS: Record<'firstName' | 'lastName' | 'displayName' | 'emailAlias', (u: DirectoryUser, q: string) => boolean> = {
  firstName: (u, q) => starts(u.firstName, q),
  lastName: (u, q) => starts(u.lastName, q),
  // The whole name or any word of it: "arn" finds "Jessica Arnold".
  displayName: (u, q) => starts(u.displayName, q) || u.displayName.split(/\s+/).some((w) => starts(w, q)),
  // With an @ the whole address is searched (e-mail and SIP URI); without, their local parts.
  // The logon name is never searched. A trailing @ is ignored ("bkelly@" finds bkelly@…).
  emailAlias: (u, q) => {
    const alias = q.endsWith('@') ? q.slice(0, -1) : q;
    const addresses = [u.email, u.uri.replace(/^sip:/i, '')].filter((a): a is string => !!a);
    if (alias.includes('@')) return addresses.some((a) => starts(a, alias));
    return addresses.some((a) => starts(a.split('@')[0], alias));
  },
};

export class SearchService implements EngineModule<'search'> {
  readonly name = 'search';
  readonly requests = ['search'] as const;

  constructor(private readonly core: EngineCore, private readonly config: SearchConfig) {}

  async handle(session: Session, req: RequestOf<'search'>): Promise<ResponseItem> {
    const { rid, query } = req;
    const terms = (Object.keys(FIELDS) as Array<keyof typeof FIELDS>).flatMap((field) =>
      query[field].map((v) => v.trim().toLowerCase()).filter((v) => v !== '').map((v) => ({ test: FIELDS[field], value: v })),
    );
    if (terms.length === 0) {
      return { type: 'requestFailed', rid, error: { refused: 'invalidInput', detail: 'A search needs at least one non-empty firstName, lastName, displayName or emailAlias.' } };
    }
    const { users, moreAvailable } = this.find(query, this.config.maxResults);
    await this.core.deliver([
      { sid: session.sid, event: { kind: 'requestSucceeded', rid } },
      { sid: session.sid, event: { kind: 'searchResult', rid, moreAvailable, users } },
    ]);
    return { type: 'requestAccepted', rid };
  }

  /**
   * The directory users a query finds, in name order, at most `limit` (never more than the
   * configured maximum); `moreAvailable` when more matched. A query without a non-empty term finds nobody.
   */
  find(query: SearchInput, limit = this.config.maxResults): { users: SearchUser[]; moreAvailable: boolean } {
    const terms = (Object.keys(FIELDS) as Array<keyof typeof FIELDS>).flatMap((field) =>
      query[field].map((v) => v.trim().toLowerCase()).filter((v) => v !== '').map((v) => ({ test: FIELDS[field], value: v })),
    );
    if (terms.length === 0) return { users: [], moreAvailable: false };
    const fn = query.function ?? this.config.defaultFunction;
    const hits = this.core.directory
      .all()
      .filter((u) => (fn === 'and' ? terms.every((t) => t.test(u, t.value)) : terms.some((t) => t.test(u, t.value))))
      .sort((a, b) => a.displayName.localeCompare(b.displayName) || a.uri.localeCompare(b.uri));
    const users = hits.slice(0, Math.max(0, Math.min(limit, this.config.maxResults))).map(toSearchUser);
    return { users, moreAvailable: hits.length > users.length };
  }

  get maxResults(): number {
    return this.config.maxResults;
  }
}

function toSearchUser(u: DirectoryUser): SearchUser {
  return {
    uri: u.uri,
    displayName: u.displayName,
    title: u.title,
    office: u.office,
    phone: u.phone,
    homePhone: u.homePhone,
    cellPhone: u.cellPhone,
    otherPhone: u.otherPhone,
    company: u.company,
    city: u.city,
    state: u.state,
    country: u.country,
    email: u.email,
  };
}
