// Decoding of the contacts, presence, access-control and search requests (schema-valid
// elements). Lenient where the reference documents quirks: booleans in any case,
// `unSubscribePresence` and `unsubscribePresence`, acknowledgeSubscriber in several shapes.
import type { CwaRequest } from '../engine/types.js';
import type { ContactInput, ContainerMember, ExpireType, GroupInput, MemberType, SearchInput, XmlFragment } from '../engine/user-data-types.js';
import { attr, boolValue, child, children, intValue, type XNode } from './xml-tree.js';

const bool = boolValue;
const int = intValue;

/** The parsed tree is already the fragment shape; copy it so nothing of the request is shared. */
function fragment(n: XNode): XmlFragment {
  return {
    name: n.name,
    ns: n.ns,
    attrs: { ...n.attrs },
    ...(n.attrNs ? { attrNs: { ...n.attrNs } } : {}),
    children: n.children.map(fragment),
    text: n.text,
  };
}

function decodeContact(n: XNode): ContactInput {
  const groups = attr(n, 'groups');
  return {
    uri: (attr(n, 'uri') ?? '').trim(),
    name: attr(n, 'name'),
    subscribed: bool(attr(n, 'subscribed')),
    tag: bool(attr(n, 'tag')),
    groups: groups === undefined ? undefined : groups.split(/\s+/).filter(Boolean).map(Number),
  };
}

function decodeGroup(n: XNode): GroupInput {
  return { id: int(attr(n, 'id')), name: attr(n, 'name'), externalUri: attr(n, 'externalUri') };
}

function uriList(n: XNode): string[] {
  const uris = child(n, 'uris');
  return uris ? children(uris, 'uri').map((u) => u.text.trim()) : [];
}

function member(n: XNode): ContainerMember {
  return { type: attr(n, 'type') as MemberType, value: (attr(n, 'value') ?? '').trim() };
}

function texts(n: XNode, name: string): string[] {
  return children(n, name).map((c) => c.text);
}

/** The request, or undefined when `node` is not one of this area's. */
export function decodeUserDataRequest(node: XNode): CwaRequest | undefined {
  const rid = attr(node, 'rid') ?? '';
  switch (node.name) {
    case 'addContact':
    case 'updateContact':
      // Only the first contact of an addContact is processed; the others are ignored.
      return { kind: node.name, rid, contact: decodeContact(child(node, 'contact')!) };
    case 'deleteContact':
      return { kind: 'deleteContact', rid, uri: (child(node, 'uri')?.text ?? '').trim() };
    case 'addGroup':
    case 'updateGroup':
    case 'deleteGroup':
      // Only the first group is processed (updateGroup's 1..n of the Element page is tolerated).
      return { kind: node.name, rid, group: decodeGroup(child(node, 'group')!) };
    case 'publishSelfPresence':
      return {
        kind: 'publishSelfPresence',
        rid,
        categories: children(node, 'cwaCategory').map((c) => ({
          name: attr(c, 'name') ?? '',
          instanceMask: int(attr(c, 'instanceMask')) ?? 0,
          expires: attr(c, 'expires'),
          payload: c.children[0] ? fragment(c.children[0]) : undefined,
        })),
      };
    case 'publishRawCategories':
      return {
        kind: 'publishRawCategories',
        rid,
        categories: children(node, 'rawCategory').map((c) => ({
          name: attr(c, 'name') ?? '',
          nameSpace: attr(c, 'nameSpace') ?? '',
          instanceMask: int(attr(c, 'instanceMask')) ?? 0,
          container: (attr(c, 'container') ?? '').trim(),
          expireType: (attr(c, 'expireType') ?? 'static') as ExpireType,
          expires: attr(c, 'expires'),
          payload: c.children.map(fragment),
        })),
      };
    case 'queryPresence':
    case 'subscribePresence':
      return { kind: node.name, rid, uris: uriList(node) };
    case 'unSubscribePresence':
    case 'unsubscribePresence':
      return { kind: 'unsubscribePresence', rid, uris: uriList(node) };
    case 'updateContainer': {
      const c = child(node, 'container')!;
      return {
        kind: 'updateContainer',
        rid,
        id: int(attr(c, 'id')) ?? 0,
        add: children(c, 'addMember').map(member),
        remove: children(c, 'deleteMember').map(member),
      };
    }
    case 'containers':
      return { kind: 'containers', rid };
    case 'acknowledgeSubscriber': {
      const uris = node.children.flatMap((c) => {
        if (c.name === 'uri') return [c.text.trim()];
        if (c.name === 'uris') return children(c, 'uri').map((u) => u.text.trim());
        if (c.name === 'subscriber') return [(attr(c, 'uri') ?? '').trim()];
        return [];
      });
      return { kind: 'acknowledgeSubscriber', rid, uris };
    }
    case 'search': {
      const fn = child(node, 'function')?.text.trim().toLowerCase();
      const query: SearchInput = {
        firstName: texts(node, 'firstName'),
        lastName: texts(node, 'lastName'),
        displayName: texts(node, 'displayName'),
        emailAlias: texts(node, 'emailAlias'),
        function: fn === 'and' || fn === 'or' ? fn : undefined,
      };
      return { kind: 'search', rid, query };
    }
    default:
      return undefined;
  }
}
