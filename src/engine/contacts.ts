// Contacts and contact groups: add/update/delete with the reference's rules, and the
// `contactGroup` event (a full snapshot at session start, then deltas with `action`) to
// every session of the user.
import { canonicalUri, DEFAULT_GROUP_NAME, isSipUri, keyOf, SEED } from './identity.js';
import type { EngineCore, EngineModule } from './module.js';
import type { Delivery } from './ports.js';
import type { Session } from './session.js';
import type { FailureReason } from './outcomes.js';
import type { CwaEvent, ResponseItem } from './types.js';
import type { ContactGroupData, ContactInput, ContactList, ContactRecord, GroupRecord, UserDataRequest } from './user-data-types.js';
import type { ContactListChange, UserDataStore } from './ports.js';

export interface ContactsListener {
  /** The user's contact list changed (already stored); `out` already holds the contactGroup delta. */
  contactsChanged(session: Session, list: ContactList, before: ContactList, out: Delivery[]): Promise<void>;
}

const CONTACT_REQUESTS = ['addContact', 'updateContact', 'deleteContact', 'addGroup', 'updateGroup', 'deleteGroup'] as const;
type ContactRequest = Extract<UserDataRequest, { kind: (typeof CONTACT_REQUESTS)[number] }>;

/** A failure the backend would report: the request is accepted, then fails on the data channel. */
class Refused extends Error {
  constructor(readonly reason: FailureReason) {
    super(reason);
  }
}

const refuse = (reason: FailureReason): never => {
  throw new Refused(reason);
};

export class ContactService implements EngineModule<ContactRequest['kind']> {
  readonly name = 'contacts';
  readonly requests = CONTACT_REQUESTS;
  listener?: ContactsListener;

  constructor(
    private readonly core: EngineCore,
    private readonly store: UserDataStore,
    private readonly limits: { maxContacts: number },
  ) {}

  /** The user's list; a user the store has never seen starts with the `~` group. */
  async listOf(uri: string): Promise<ContactList> {
    const owner = keyOf(uri);
    await this.store.initOwner(owner, SEED);
    return this.store.contactList(owner);
  }

  /** The snapshot event of a session start. */
  async snapshot(session: Session): Promise<ContactGroupData> {
    const list = await this.listOf(session.user.uri);
    return { fullList: true, deltaNum: list.deltaNum, groups: list.groups, contacts: list.contacts };
  }

  async handle(session: Session, req: ContactRequest): Promise<ResponseItem> {
    const rid = req.rid;
    const invalid = this.check(req);
    if (invalid) return { type: 'requestFailed', rid, error: { refused: 'invalidInput', detail: invalid } };
    const before = await this.listOf(session.user.uri);
    let change: ContactListChange;
    let delta: Omit<ContactGroupData, 'deltaNum'>;
    try {
      ({ change, delta } = await this.plan(session, req, before));
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      await this.core.deliver([{ sid: session.sid, event: { kind: 'requestFailed', rid, error: { failed: err.reason } } }]);
      return { type: 'requestAccepted', rid };
    }
    const owner = keyOf(session.user.uri);
    const deltaNum = await this.store.changeContactList(owner, change);
    const after = await this.store.contactList(owner);
    const out: Delivery[] = [{ sid: session.sid, event: { kind: 'requestSucceeded', rid } }];
    const event: CwaEvent = { kind: 'contactGroup', data: { ...delta, deltaNum } };
    for (const s of this.core.sessionsOf(session.user.login)) out.push({ sid: s.sid, event });
    await this.listener?.contactsChanged(session, after, before, out);
    await this.core.deliver(out);
    return { type: 'requestAccepted', rid };
  }

  /** Checks the request answered synchronously (missing attributes, malformed URIs). */
  private check(req: ContactRequest): string | undefined {
    if (req.kind === 'addContact' || req.kind === 'updateContact') {
      const c = req.contact;
      if (!isSipUri(canonicalUri(c.uri))) return `contact uri "${c.uri}" is not a SIP URI (sip:user@domain)`;
      if (c.name === undefined) return 'contact name is required';
      if (c.tag === undefined) return 'contact tag is required';
    }
    if (req.kind === 'deleteContact' && !isSipUri(canonicalUri(req.uri))) return `"${req.uri}" is not a SIP URI (sip:user@domain)`;
    if ((req.kind === 'addGroup' || req.kind === 'updateGroup') && !req.group.name?.trim()) return 'group name is required';
    if ((req.kind === 'updateGroup' || req.kind === 'deleteGroup') && req.group.id === undefined) return 'group id is required';
    return undefined;
  }

  private defaultGroupIds(list: ContactList): number[] {
    const g = list.groups.find((x) => x.name === DEFAULT_GROUP_NAME);
    return g ? [g.id] : [];
  }

  private contactFrom(input: ContactInput, list: ContactList): ContactRecord {
    // A full replace: omitted attributes take their defaults (not subscribed, in the ~ group).
    const groups = input.groups === undefined ? this.defaultGroupIds(list) : [...new Set(input.groups)];
    for (const id of groups) if (!list.groups.some((g) => g.id === id)) refuse('groupNotFound');
    return { uri: canonicalUri(input.uri), name: input.name ?? '', subscribed: input.subscribed ?? false, tag: input.tag ?? false, groups };
  }

  private async plan(
    session: Session,
    req: ContactRequest,
    list: ContactList,
  ): Promise<{ change: ContactListChange; delta: Omit<ContactGroupData, 'deltaNum'> }> {
    const find = (uri: string) => list.contacts.find((c) => keyOf(c.uri) === keyOf(uri));
    const sameName = (name: string, except?: number) =>
      list.groups.some((g) => g.id !== except && g.name.toLowerCase() === name.trim().toLowerCase());
    switch (req.kind) {
      case 'addContact': {
        const contact = this.contactFrom(req.contact, list);
        const existing = find(contact.uri);
        if (!existing && list.contacts.length >= this.limits.maxContacts) refuse('tooManyContacts');
        if (existing) contact.uri = existing.uri;
        return { change: { putContacts: [contact] }, delta: { groups: [], contacts: [{ ...contact, action: existing ? 'updated' : 'added' }] } };
      }
      case 'updateContact': {
        const existing = find(req.contact.uri);
        if (!existing) refuse('contactNotFound');
        const contact = { ...this.contactFrom(req.contact, list), uri: existing!.uri };
        return { change: { putContacts: [contact] }, delta: { groups: [], contacts: [{ ...contact, action: 'updated' }] } };
      }
      case 'deleteContact': {
        const existing = find(req.uri);
        if (!existing) refuse('contactNotFound');
        return { change: { deleteContacts: [existing!.uri] }, delta: { groups: [], contacts: [{ ...existing!, action: 'deleted' }] } };
      }
      case 'addGroup': {
        const name = req.group.name!.trim();
        if (sameName(name)) refuse('duplicateGroup');
        const group: GroupRecord = { id: await this.store.allocateGroupId(keyOf(session.user.uri)), name, externalUri: req.group.externalUri ?? '' };
        return { change: { putGroups: [group] }, delta: { groups: [{ ...group, action: 'added' }], contacts: [] } };
      }
      case 'updateGroup': {
        const existing = list.groups.find((g) => g.id === req.group.id);
        if (!existing) refuse('groupNotFound');
        if (existing!.name === DEFAULT_GROUP_NAME || existing!.externalUri !== '') refuse('groupProtected');
        const name = req.group.name!.trim();
        if (sameName(name, existing!.id)) refuse('duplicateGroup');
        const group = { ...existing!, name };
        return { change: { putGroups: [group] }, delta: { groups: [{ ...group, action: 'updated' }], contacts: [] } };
      }
      case 'deleteGroup': {
        const existing = list.groups.find((g) => g.id === req.group.id);
        if (!existing) refuse('groupNotFound');
        if (existing!.name === DEFAULT_GROUP_NAME) refuse('groupProtected');
        // The group's contacts are kept; one left in no group goes back to ~ ("All Contacts").
        const fallback = this.defaultGroupIds(list);
        const moved = list.contacts
          .filter((c) => c.groups.includes(existing!.id))
          .map((c) => {
            const groups = c.groups.filter((g) => g !== existing!.id);
            return { ...c, groups: groups.length > 0 ? groups : fallback };
          });
        return {
          change: { deleteGroups: [existing!.id], putContacts: moved },
          delta: { groups: [{ id: existing!.id, action: 'deleted' }], contacts: moved.map((c) => ({ ...c, action: 'updated' as const })) },
        };
      }
    }
  }
}
