// Who is who: SIP URI normalisation, owner keys, and where a user comes from
// (sameEnterprise / federated / publicCloud) as the gateway can tell.
import type { Directory } from './ports.js';
import type { ContainerRecord, GroupRecord, SourceNetwork } from './user-data-types.js';

const SIP_URI = /^sip:[^@\s<>"]+@[^@\s<>"]+$/i;

/** True for `sip:user@domain`, with the mandatory `sip:` prefix. */
export function isSipUri(uri: string): boolean {
  return SIP_URI.test(uri);
}

/** `sip:` in lower case, the rest as given; adds `sip:` when missing (where the reference tolerates it). */
export function canonicalUri(uri: string, addScheme = false): string {
  const t = uri.trim();
  if (/^sip:/i.test(t)) return 'sip:' + t.slice(4);
  return addScheme ? 'sip:' + t : t;
}

/** The store and index key of a user: the SIP URI in lower case. */
export function keyOf(uri: string): string {
  return canonicalUri(uri).toLowerCase();
}

export function domainOf(uri: string): string {
  const at = uri.lastIndexOf('@');
  return at >= 0 ? uri.slice(at + 1).toLowerCase() : '';
}

/** Public IM networks reached through public IM connectivity (publicCloud). */
export const PUBLIC_CLOUD_DOMAINS = new Set(['hotmail.com', 'live.com', 'msn.com', 'outlook.com', 'yahoo.com', 'aol.com', 'aim.com']);

/** Classifies URIs against the user directory: its users' domains are the enterprise. */
export class Networks {
  private domains?: Set<string>;

  constructor(private readonly directory: Directory) {}

  private enterpriseDomains(): Set<string> {
    this.domains ??= new Set(this.directory.all().map((u) => domainOf(u.uri)));
    return this.domains;
  }

  sourceNetwork(uri: string): SourceNetwork {
    if (this.directory.findByUri(uri)) return 'sameEnterprise';
    const domain = domainOf(uri);
    if (this.enterpriseDomains().has(domain)) return 'sameEnterprise';
    return PUBLIC_CLOUD_DOMAINS.has(domain) ? 'publicCloud' : 'federated';
  }
}

/** The `~` group Communicator keeps for contacts in no user-defined group. */
export const DEFAULT_GROUP_NAME = '~';

export const DEFAULT_GROUPS: GroupRecord[] = [{ id: 1, name: DEFAULT_GROUP_NAME, externalUri: '' }];

/** Office Communicator's bootstrap containers: Public holds federated users, Company the enterprise. */
export const DEFAULT_CONTAINERS: ContainerRecord[] = [
  { id: 100, members: [{ type: 'federated', value: '' }] },
  { id: 200, members: [{ type: 'sameEnterprise', value: '' }] },
  { id: 300, members: [] },
  { id: 400, members: [] },
  { id: 32000, members: [] },
];

export const SEED = { groups: DEFAULT_GROUPS, containers: DEFAULT_CONTAINERS };

/** ISO-8601 UTC to the second, as the reference's only publishTime example. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
