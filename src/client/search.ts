// Directory search in the client: one `search` request, its `searchResult` event.
//
//   const { users } = await client.directory.search('carol');
import { RidWaiters, type RequestRunner } from './requests.js';
import { escapeXmlText } from './xml.js';

/** A user found in the directory (the fields the gateway knows for them). */
export interface DirectoryUser {
  uri: string;
  displayName?: string;
  title?: string;
  office?: string;
  phone?: string;
  homePhone?: string;
  cellPhone?: string;
  otherPhone?: string;
  company?: string;
  city?: string;
  state?: string;
  country?: string;
  email?: string;
}

/** Fields to search (prefix matches without case); at least one must be non-empty. */
export interface SearchQuery {
  firstName?: string;
  lastName?: string;
  /** The whole display name or any word of it. */
  displayName?: string;
  /** The local part of the e-mail address or SIP URI (or the whole address, with an `@`). */
  emailAlias?: string;
  /** How the fields combine (the gateway's default when omitted). */
  match?: 'and' | 'or';
}

export interface SearchResult {
  users: DirectoryUser[];
  /** More users matched than the gateway returns at once. */
  moreAvailable: boolean;
}

const FIELDS = ['firstName', 'lastName', 'displayName', 'emailAlias'] as const;

/** Searches the user directory. Available as `client.directory`. */
export class Directory {
  private readonly waiters: RidWaiters;

  constructor(runner: RequestRunner) {
    this.waiters = new RidWaiters(runner);
    runner.onEvent((ev) => {
      if (ev.name === 'searchResult' && ev.attrs.rid !== undefined) this.waiters.resolve(ev.attrs.rid, ev);
    });
  }

  /**
   * Searches; a string looks for people whose name (any word of it) or address starts with it.
   * Rejects with a CwaRequestError when the gateway refuses the query (e.g. nothing to search for).
   */
  async search(query: string | SearchQuery): Promise<SearchResult> {
    const q: SearchQuery = typeof query === 'string' ? { displayName: query, emailAlias: query, match: 'or' } : query;
    const inner =
      FIELDS.map((f) => (q[f] !== undefined ? `<${f}>${escapeXmlText(q[f]!)}</${f}>` : '')).join('') +
      (q.match !== undefined ? `<function>${q.match}</function>` : '');
    const ev = await this.waiters.run((rid) => `<search rid="${rid}">${inner}</search>`, false);
    const users = ev.children
      .filter((u) => u.name === 'user' && u.attrs.uri)
      .map((u) => ({ ...u.attrs }) as unknown as DirectoryUser);
    return { users, moreAvailable: (ev.attrs.moreAvailable ?? '').toLowerCase() === 'true' };
  }
}
