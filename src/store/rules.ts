// Small rules every store implementation shares, so they agree exactly.
import type { ContactList, ContainerMember, ContainerRecord } from '../engine/user-data-types.js';
import type { ContactListChange } from './types.js';

export function sameMember(a: ContainerMember, b: ContainerMember): boolean {
  return a.type === b.type && a.value.toLowerCase() === b.value.toLowerCase();
}

export function sortContainers(list: ContainerRecord[]): ContainerRecord[] {
  return list.sort((a, b) => a.id - b.id);
}

/** The list after `change`, with deltaNum grown by one. Contacts keep their order; new ones go last. */
export function applyContactListChange(list: ContactList, change: ContactListChange): ContactList {
  let groups = list.groups.filter((g) => !(change.deleteGroups ?? []).includes(g.id));
  for (const g of change.putGroups ?? []) {
    const i = groups.findIndex((x) => x.id === g.id);
    if (i >= 0) groups[i] = g;
    else groups = [...groups, g];
  }
  const gone = new Set((change.deleteContacts ?? []).map((u) => u.toLowerCase()));
  let contacts = list.contacts.filter((c) => !gone.has(c.uri.toLowerCase()));
  for (const c of change.putContacts ?? []) {
    const i = contacts.findIndex((x) => x.uri.toLowerCase() === c.uri.toLowerCase());
    if (i >= 0) contacts[i] = c;
    else contacts = [...contacts, c];
  }
  return { deltaNum: list.deltaNum + 1, groups: groups.sort((a, b) => a.id - b.id), contacts };
}
