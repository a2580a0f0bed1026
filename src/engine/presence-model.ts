// Pure presence rules: availability numbers and their aggregation, access levels, what
// each level may see of a category, and the normalisation of published payloads.
import type { CategoryPayload, XmlFragment } from './user-data-types.js';

export const NS = {
  state: 'http://schemas.microsoft.com/2006/09/sip/state',
  note: 'http://schemas.microsoft.com/2006/09/sip/note',
  contactCard: 'http://schemas.microsoft.com/2006/09/sip/contactcard',
  calendarData: 'http://schemas.microsoft.com/2006/09/sip/calendarData',
  services: 'http://schemas.microsoft.com/2006/09/sip/service',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  cwa: 'http://schemas.microsoft.com/2006/09/rtc/cwa',
} as const;

/** The representative availability numbers of the reference. */
export const Availability = {
  online: 3500,
  idleOnline: 4500,
  busy: 6500,
  idleBusy: 7500,
  doNotDisturb: 9500,
  beRightBack: 12500,
  away: 15500,
  offline: 18500,
} as const;

/** Machine states (R2 "Machine States"). */
export const MachineState = { active: 3500, inactive: 5000, away: 15500, offline: 18500 } as const;

/** Instance id prefixes of the SIP-level state instances. */
export const USER_STATE_INSTANCE = 0x20000000;
export const MACHINE_STATE_PREFIX = 0x30000000;

/** Categories kept in the durable store; the others live as long as the user is signed in. */
export const PERSISTENT_CATEGORIES = new Set(['note', 'contactCard', 'calendarData']);

/** The bands of the aggregate availability number (the reference's ranges); each door names them. */
export type AvailabilityBand = 'offline' | 'online' | 'idleOnline' | 'busy' | 'idleBusy' | 'doNotDisturb' | 'beRightBack' | 'away';

export function availabilityBand(availability: number): AvailabilityBand {
  if (availability < 3000 || availability >= 18000) return 'offline';
  if (availability < 4500) return 'online';
  if (availability < 6000) return 'idleOnline';
  if (availability < 7500) return 'busy';
  if (availability < 9000) return 'idleBusy';
  if (availability < 12000) return 'doNotDisturb';
  if (availability < 15000) return 'beRightBack';
  return 'away';
}

const ACTIVITY_TOKENS: Readonly<Record<AvailabilityBand, string>> = {
  offline: 'Offline',
  online: 'Available',
  idleOnline: 'Inactive',
  busy: 'Busy',
  idleBusy: 'IdleBusy',
  doNotDisturb: 'DoNotDisturb',
  beRightBack: 'BeRightBack',
  away: 'Away',
};

/** Capitalised activity token for an aggregate availability (only "Offline" is seen in the reference). */
export function activityToken(availability: number): string {
  return ACTIVITY_TOKENS[availabilityBand(availability)];
}

type MachineClass = 'active' | 'inactive' | 'away' | 'offline';

function machineClass(m: number): MachineClass {
  if (m < 4500) return 'active';
  if (m < 15000) return 'inactive';
  if (m < 18000) return 'away';
  return 'offline';
}

/**
 * Aggregate availability from the user state (manual, undefined when none was set) and
 * the machine states of the user's live endpoints. No endpoint: offline. The user state
 * decides, except that Online and Busy follow the most active machine into their idle
 * variants (4500 / 7500) and Online into Away (15500).
 */
export function aggregateAvailability(userState: number | undefined, machines: number[]): number {
  if (machines.length === 0) return Availability.offline;
  const u = userState !== undefined && userState >= 3000 ? userState : undefined;
  if (u !== undefined && u >= 18000) return Availability.offline;
  const m = machineClass(Math.min(...machines));
  if (m === 'offline') return Availability.offline;
  if (u === undefined || u < 6000) {
    return m === 'active' ? Availability.online : m === 'inactive' ? Availability.idleOnline : Availability.away;
  }
  if (u < 9000) return m === 'active' ? (u < 7500 ? u : Availability.busy) : Availability.idleBusy;
  return u;
}

/** Machine state of an endpoint that publishes it from `UA`: idle after idleMs, away after awayMs. */
export function machineStateFromActivity(sinceActiveMs: number, idleMs: number, awayMs: number): number {
  if (sinceActiveMs >= awayMs) return MachineState.away;
  if (sinceActiveMs >= idleMs) return MachineState.inactive;
  return MachineState.active;
}

// ---- access levels --------------------------------------------------------------------

/** What a watcher may see, from least to most. */
export const Level = { blocked: -1, default: 0, public: 100, company: 200, team: 300, personal: 400, self: 1000 } as const;
export type LevelValue = (typeof Level)[keyof typeof Level];

export const BLOCKED_CONTAINER = 32000;

/** The level a container grants: 32000 blocks, others grant the standard level at or below their id. */
export function levelOfContainer(id: number | undefined): LevelValue {
  if (id === undefined) return Level.default;
  if (id === BLOCKED_CONTAINER) return Level.blocked;
  if (id >= 400) return Level.personal;
  if (id >= 300) return Level.team;
  if (id >= 200) return Level.company;
  if (id >= 100) return Level.public;
  return Level.default;
}

/** Lowest level that sees a category other than state and contactCard. */
export function categoryMinLevel(name: string): number {
  return name === 'state' ? Level.public : Level.company;
}

/** Lowest level that sees a phone of this type. */
export function phoneMinLevel(type: string): number {
  switch (type.toLowerCase()) {
    case 'work':
      return Level.public;
    case 'home':
      return Level.personal;
    default:
      return Level.team; // mobile, other, custom1 …
  }
}

/** Lowest level that sees a child of a published contactCard. */
function cardChildMinLevel(child: XmlFragment): number {
  switch (child.name) {
    case 'identity':
      return Level.default;
    case 'phone':
      return phoneMinLevel(child.attrs.type ?? '');
    case 'address':
      return Level.team;
    default:
      return Level.company; // company, department, title, office, url, automaton …
  }
}

/** A published contactCard cut down to what `level` may see; undefined when nothing is left. */
export function filterContactCard(card: XmlFragment, level: number): XmlFragment | undefined {
  const children = card.children.filter((c) => cardChildMinLevel(c) <= level);
  if (children.length === 0 && card.children.length > 0) return undefined;
  return { ...card, children };
}

/** The server's own contactCard instances (0: identity, 1: directory details), cut down for `level`. */
export function directoryCards(
  user: { displayName: string; email?: string; company?: string; title?: string; office?: string; phone?: string; cellPhone?: string; homePhone?: string; otherPhone?: string },
  level: number,
): Array<{ instance: number; payload: CategoryPayload }> {
  if (level < Level.default) return [];
  const out: Array<{ instance: number; payload: CategoryPayload }> = [
    { instance: 0, payload: { type: 'contactCard', displayName: user.displayName, email: user.email, phones: [] } },
  ];
  const phones = [
    { type: 'work', value: user.phone },
    { type: 'mobile', value: user.cellPhone },
    { type: 'other', value: user.otherPhone },
    { type: 'home', value: user.homePhone },
  ]
    .filter((p) => p.value && phoneMinLevel(p.type) <= level)
    .map((p) => ({ type: p.type, uri: `tel:${p.value!.replace(/[^+\d]/g, '')}`, displayString: p.value! }));
  const details = level >= Level.company ? { company: user.company, title: user.title, office: user.office } : {};
  if (phones.length > 0 || details.company || details.title || details.office) {
    out.push({ instance: 1, payload: { type: 'contactCard', ...details, phones } });
  }
  return out;
}

// ---- published payloads --------------------------------------------------------------

const CATEGORY_NS: Record<string, string> = {
  state: NS.state,
  note: NS.note,
  contactCard: NS.contactCard,
  calendarData: NS.calendarData,
  services: NS.services,
};

/**
 * A payload published without its own namespace (the reference's machine-state example)
 * sits in the CWA namespace of the request: move it, and its descendants that share it,
 * into the category's namespace.
 */
export function normalizePayload(category: string, payload: XmlFragment): XmlFragment {
  const target = CATEGORY_NS[category];
  if (!target || (payload.ns !== NS.cwa && payload.ns !== '')) return payload;
  const from = payload.ns;
  const move = (n: XmlFragment): XmlFragment => ({
    ...n,
    ns: n.ns === from ? target : n.ns,
    children: n.children.map(move),
  });
  return move(payload);
}

export interface PublishedState {
  kind: 'userState' | 'machineState' | 'other';
  availability?: number;
  activity: XmlFragment[];
}

/** Reads a published `state` payload: its xsi:type (or, without one, the instance prefix) and availability. */
export function readState(payload: XmlFragment, instanceMask: number): PublishedState {
  let type: string | undefined = payload.attrs.type;
  if (type !== undefined && payload.attrNs?.type !== NS.xsi) type = undefined;
  type = type?.replace(/^.*:/, '');
  let kind: PublishedState['kind'];
  if (type === 'userState' || type === 'machineState') kind = type;
  else if (type === undefined) kind = (instanceMask & 0xf0000000) >>> 0 === MACHINE_STATE_PREFIX ? 'machineState' : 'userState';
  else kind = 'other';
  const av = payload.children.find((c) => c.name === 'availability');
  const n = av ? Number(av.text.trim()) : NaN;
  return {
    kind,
    availability: Number.isSafeInteger(n) && n >= 0 ? n : undefined,
    activity: payload.children.filter((c) => c.name === 'activity'),
  };
}

/** The class of an availability, for telling whether the user state decided the aggregate. */
export function availabilityClass(a: number): string {
  return activityToken(a);
}
