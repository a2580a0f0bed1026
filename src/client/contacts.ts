// The contact list in the client: groups and contacts from contactGroup events (the full
// list at sign-in, then changes, also those made from the user's other sessions), and the
// requests that change it.
//
//   client.contacts.onChanged(() => render(client.contacts.groups(), client.contacts.all()));
//   await client.contacts.add('sip:bob@example.com', { name: 'Bob Brennan' });
import { Listeners, type Unsubscribe } from './emitter.js';
import { RidWaiters, uriKey, type RequestRunner } from './requests.js';
import { escapeXmlAttr, escapeXmlText, type XmlElement } from './xml.js';

export interface Contact {
  uri: string;
  /** The name the user gave the contact. */
  name: string;
  /** Whether the gateway keeps a presence subscription for this contact (its userPresence comes by itself). */
  subscribed: boolean;
  /** Tagged for status-change alerts (the client's to act on). */
  tag: boolean;
  /** Ids of the groups it is in. */
  groups: number[];
}

export interface ContactGroup {
  id: number;
  /** `~` is the default group ("All contacts"), which must not be renamed or deleted. */
  name: string;
  /** Set for a distribution group. */
  externalUri?: string;
}

/** The name of the default group. */
export const DEFAULT_GROUP = '~';

export interface AddContactOptions {
  /** The name to show (default: the URI's user part). */
  name?: string;
  /** Group ids (default: the default group). */
  groups?: number[];
  /** Keep a presence subscription (default true). */
  subscribed?: boolean;
  tag?: boolean;
}

const bool = (v: string | undefined) => (v ?? '').toLowerCase() === 'true';

/** The user's contacts and groups. Available as `client.contacts`. */
export class ContactList {
  private readonly contactMap = new Map<string, Contact>();
  private readonly groupMap = new Map<number, ContactGroup>();
  private readonly listeners = new Listeners<[]>();
  private readonly waiters: RidWaiters;
  /** The change counter of the list (contactGroup@deltaNum). */
  deltaNum = 0;
  /** True once the full list has arrived. */
  loaded = false;

  constructor(runner: RequestRunner) {
    this.waiters = new RidWaiters(runner);
    runner.onEvent((ev) => {
      if (ev.name === 'contactGroup') this.apply(ev);
    });
  }

  /** Every contact, in the order the gateway listed them. */
  all(): Contact[] {
    return [...this.contactMap.values()];
  }

  get(uri: string): Contact | undefined {
    return this.contactMap.get(uriKey(uri));
  }

  /** Every group, in the order the gateway listed them. */
  groups(): ContactGroup[] {
    return [...this.groupMap.values()];
  }

  group(id: number): ContactGroup | undefined {
    return this.groupMap.get(id);
  }

  /** The contacts of one group. */
  inGroup(id: number): Contact[] {
    return this.all().filter((c) => c.groups.includes(id));
  }

  /** The list changed (it arrived, or a contact or group was added, updated or deleted). */
  onChanged(fn: () => void): Unsubscribe {
    return this.listeners.add(fn);
  }

  /** Adds a contact (or updates it when it is already in the list); resolves once the gateway applied it. */
  async add(uri: string, options: AddContactOptions = {}): Promise<void> {
    const name = options.name ?? uri.replace(/^sip:/i, '').split('@')[0] ?? uri;
    await this.write('addContact', { uri, name, subscribed: options.subscribed ?? true, tag: options.tag ?? false, groups: options.groups });
  }

  /** Replaces a contact's name, groups, subscription and tag (omitted fields take their defaults). */
  async update(contact: Pick<Contact, 'uri' | 'name'> & Partial<Contact>): Promise<void> {
    await this.write('updateContact', { ...contact, subscribed: contact.subscribed ?? false, tag: contact.tag ?? false });
  }

  async remove(uri: string): Promise<void> {
    await this.waiters.run((rid) => `<deleteContact rid="${rid}"><uri>${escapeXmlText(uri)}</uri></deleteContact>`);
  }

  /** Creates a group; resolves with it once the gateway created it (a duplicate name is refused). */
  async addGroup(name: string): Promise<ContactGroup> {
    await this.waiters.run((rid) => `<addGroup rid="${rid}"><group name="${escapeXmlAttr(name)}"/></addGroup>`);
    const group = this.groups().find((g) => g.name === name);
    if (group) return group;
    // The contactGroup that carries it follows the requestSucceeded.
    return new Promise((resolve) => {
      const off = this.onChanged(() => {
        const g = this.groups().find((x) => x.name === name);
        if (!g) return;
        off();
        resolve(g);
      });
    });
  }

  async renameGroup(id: number, name: string): Promise<void> {
    await this.waiters.run((rid) => `<updateGroup rid="${rid}"><group id="${id}" name="${escapeXmlAttr(name)}"/></updateGroup>`);
  }

  /** Deletes a group; its contacts stay in the list. */
  async removeGroup(id: number): Promise<void> {
    await this.waiters.run((rid) => `<deleteGroup rid="${rid}"><group id="${id}"/></deleteGroup>`);
  }

  private async write(kind: 'addContact' | 'updateContact', c: Omit<Contact, 'groups'> & { groups?: number[] }): Promise<void> {
    const groups = c.groups !== undefined ? ` groups="${c.groups.join(' ')}"` : '';
    await this.waiters.run(
      (rid) =>
        `<${kind} rid="${rid}"><contact uri="${escapeXmlAttr(c.uri)}" name="${escapeXmlAttr(c.name)}" subscribed="${c.subscribed}" tag="${c.tag}"${groups}/></${kind}>`,
    );
  }

  private apply(ev: XmlElement): void {
    const full = bool(ev.attrs.fullList);
    if (full) {
      this.contactMap.clear();
      this.groupMap.clear();
    }
    if (ev.attrs.deltaNum !== undefined) this.deltaNum = Number(ev.attrs.deltaNum);
    for (const el of ev.children) {
      const action = el.attrs.action;
      if (el.name === 'group') {
        const id = Number(el.attrs.id);
        if (!Number.isInteger(id)) continue;
        if (action === 'deleted') {
          this.groupMap.delete(id);
          for (const c of this.contactMap.values()) c.groups = c.groups.filter((g) => g !== id);
          continue;
        }
        const group: ContactGroup = { id, name: el.attrs.name ?? this.groupMap.get(id)?.name ?? '' };
        if (el.attrs.externalUri) group.externalUri = el.attrs.externalUri;
        this.groupMap.set(id, group);
      } else if (el.name === 'contact') {
        const uri = el.attrs.uri;
        if (!uri) continue;
        if (action === 'deleted') {
          this.contactMap.delete(uriKey(uri));
          continue;
        }
        this.contactMap.set(uriKey(uri), {
          uri,
          name: el.attrs.name ?? '',
          subscribed: bool(el.attrs.subscribed),
          tag: bool(el.attrs.tag),
          groups: (el.attrs.groups ?? '').split(/\s+/).filter((g) => g !== '').map(Number),
        });
      }
    }
    this.loaded = true;
    this.listeners.emit();
  }
}
