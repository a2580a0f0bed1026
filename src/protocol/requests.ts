// Typed requests, decoded from a schema-valid element. Decoding is lenient where the
// reference documents client quirks (attribute and element names compared without
// case: `confid`, `Format`; the `initateImSession` spelling; a missing confId).
import { attr, boolValue, child, children, intValue, type XNode } from './xml-tree.js';
import type { ConferenceAction, CwaRequest, ImMessage, LogonRequest } from '../engine/types.js';
import { decodeUserDataRequest } from './user-data-requests.js';

const bool = (value: string | undefined, fallback: boolean): boolean => boolValue(value) ?? fallback;
const int = intValue;

function text(node: XNode | undefined): string | undefined {
  return node === undefined ? undefined : node.text;
}

function decodeMessage(node: XNode | undefined, outerFormat?: string): ImMessage | undefined {
  if (!node) return undefined;
  const format = text(child(node, 'format')) ?? outerFormat;
  return { format: format?.trim() === '' ? undefined : format, content: text(child(node, 'content')) ?? '' };
}

/** The `uri` texts of a `uris` child. */
function uriList(node: XNode): string[] {
  const uris = child(node, 'uris');
  return uris ? children(uris, 'uri').map((u) => u.text.trim()) : [];
}

function decodeConference(node: XNode): CwaRequest {
  const rid = attr(node, 'rid');
  const confId = int(attr(node, 'confId')) ?? 0;
  const inner = node.children[0]!;
  const name = inner.name;
  let action: ConferenceAction;
  switch (name) {
    case 'initiateImSession':
    case 'initateImSession': {
      const uris = uriList(inner);
      const outerFormat = text(child(inner, 'format'));
      action = {
        type: 'initiateImSession',
        uris,
        confUri: text(child(inner, 'confUri'))?.trim(),
        message: decodeMessage(child(inner, 'message'), outerFormat),
        subject: text(child(inner, 'subject')),
      };
      break;
    }
    case 'acceptImSession':
      action = { type: 'acceptImSession' };
      break;
    case 'terminateImSession':
      action = { type: 'terminateImSession' };
      break;
    case 'sendMessage':
      action = { type: 'sendMessage', message: decodeMessage(inner)! };
      break;
    case 'notifyComposing':
      action = { type: 'notifyComposing', state: inner.text.trim().toLowerCase() === 'composing' ? 'composing' : 'idle' };
      break;
    case 'inviteParticipants':
      action = { type: 'inviteParticipants', uris: uriList(inner) };
      break;
    case 'ejectParticipant':
      action = { type: 'ejectParticipant', uri: inner.text.trim() };
      break;
    case 'promoteParticipant':
      action = { type: 'promoteParticipant', uri: inner.text.trim() };
      break;
    case 'lock':
      action = { type: 'lock', locked: inner.text.trim().toLowerCase() === 'true' };
      break;
    case 'sendInfo':
      action = { type: 'sendInfo', contentType: text(child(inner, 'contentType'))?.trim() ?? '', content: text(child(inner, 'content')) ?? '' };
      break;
    case 'voIPRedirect':
    case 'voIPTerminate':
    case 'voIPReplyWithIM':
      action = { type: 'voip', name };
      break;
    default:
      action = { type: 'unsupported', name };
  }
  return { kind: 'conference', rid, confId, action };
}

/** Decodes one schema-valid child of <cwaRequests>. */
export function decodeRequest(node: XNode): CwaRequest {
  const rid = attr(node, 'rid') ?? '';
  switch (node.name) {
    case 'initiateSession': {
      const options = child(node, 'options');
      const filter = child(node, 'categoryEventFilter');
      const mode = text(child(node, 'securityMode'))?.trim().toLowerCase();
      return {
        kind: 'initiateSession',
        rid,
        localeId: int(text(child(node, 'localeId'))),
        securityMode: mode === 'public' || mode === 'private' ? mode : undefined,
        userStateAvailability: int(text(child(node, 'userStateAvailability'))),
        options: {
          autoPublishMachineState: bool(options && attr(options, 'autoPublishMachineState'), true),
          autoSubscribePresenceForContacts: bool(options && attr(options, 'autoSubscribePresenceForContacts'), true),
          // Only when asked for: an empty array kept per session for nothing is 32 bytes of heap.
          ...(filter ? { rawCategories: rawCategoryNames(filter) } : {}),
        },
        signInData: text(child(node, 'signInData'))?.trim(),
      };
    }
    case 'terminateSession':
      return { kind: 'terminateSession', rid };
    case 'conference':
      return decodeConference(node);
    default:
      return decodeUserDataRequest(node) ?? { kind: 'unsupported', rid: attr(node, 'rid'), name: node.name };
  }
}

/** categoryEventFilter: the rawCategories attribute, and (structure unconfirmed) any text, space separated. */
function rawCategoryNames(filter: XNode): string[] {
  const words = `${attr(filter, 'rawCategories') ?? ''} ${filter.text}`.split(/\s+/).filter(Boolean);
  return [...new Set(words)];
}

export function decodeLogon(node: XNode): LogonRequest {
  return {
    user: text(child(node, 'user'))?.trim(),
    password: text(child(node, 'password')),
    uri: text(child(node, 'uri'))?.trim(),
  };
}
