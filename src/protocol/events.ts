// Typed events and their XML. An event body is rendered once and shared by every
// session it is queued for; only the per-session wrapper (eid, confId) differs, and
// the log stores that as a head/tail pair around the eid, so a stored event is never
// re-rendered for a poll or a WebSocket.
import type { EventRecord } from '../delivery/event-log.js';
import type { ConferenceEventBody, ConfigurationData, CwaEvent, ImMessage } from '../engine/types.js';
import type { CwaError } from './cwa-errors.js';
import { cwaErrorOf } from './cwa-outcomes.js';
import { layoutContent, type XmlLayout } from './layout.js';
import { userDataRecord } from './user-data-events.js';
import { attrs, element, textElement } from './xml.js';


export function renderError(e: CwaError): string {
  let inner = '';
  if (e.sipResponse) {
    const s = e.sipResponse;
    inner = element(
      'sipResponse',
      { code: s.code, reason: s.reason },
      s.diagnostics ? textElement('ms-diagnostics', s.diagnostics) : '',
    );
  }
  return element('error', { code: e.code, reason: e.reason, detail: e.detail }, inner);
}

function renderMessage(m: ImMessage): string {
  return element('message', {}, (m.format !== undefined ? textElement('format', m.format) : '') + textElement('content', m.content));
}

/**
 * The last body rendered: a body queued for several members (a message to a conference)
 * is delivered to them one after another, so it is rendered once. A WeakMap of every body
 * costs more than it saves: most bodies go to one session.
 */
let lastBody: ConferenceEventBody | undefined;
let lastXml = '';

export function renderConferenceBody(b: ConferenceEventBody): string {
  if (b === lastBody) return lastXml;
  let xml: string;
  switch (b.type) {
    case 'initiateImSessionAccepted':
      xml = element('initiateImSessionAccepted', { rid: b.rid, confId: b.confId });
      break;
    case 'imSessionReceived':
      xml = element(
        'imSessionReceived',
        { conversationId: b.conversationId },
        element('inviter', { uri: b.inviter.uri, name: b.inviter.name, sourceNetwork: b.inviter.sourceNetwork }) +
          textElement('role', b.role) +
          textElement('escalationMode', b.escalationMode) +
          (b.subject !== undefined ? textElement('subject', b.subject) : '') +
          (b.message ? renderMessage(b.message) : ''),
      );
      break;
    case 'imSessionState':
      xml = textElement('imSessionState', b.state);
      break;
    case 'messageReceived':
      xml = element('messageReceived', { sender: b.sender }, renderMessage(b.message));
      break;
    case 'messageIdReceived':
      xml = element('messageIdReceived', { rid: b.rid, messageId: b.messageId });
      break;
    case 'messageSendFailed':
      xml = element('messageSendFailed', { messageId: b.messageId, rid: b.rid }, b.error ? renderError(cwaErrorOf(b.error)) : '');
      break;
    case 'composingState':
      xml = textElement('composingState', b.state, { uri: b.uri });
      break;
    case 'escalationMode':
      xml = textElement('escalationMode', b.mode);
      break;
    case 'role':
      xml = textElement('role', b.role);
      break;
    case 'participant':
      xml = element('participant', { uri: b.uri, name: b.name, role: b.role });
      break;
    case 'participantRemoved':
      xml = textElement('participantRemoved', b.uri);
      break;
    case 'inviteFailed':
      xml = element('inviteFailed', { uri: b.uri });
      break;
    case 'locked':
      xml = textElement('locked', String(b.locked));
      break;
    case 'confUri':
      xml = textElement('confUri', b.uri);
      break;
    case 'infoReceived':
      xml = element('infoReceived', { sender: b.sender, contentType: b.contentType }, textElement('content', b.content));
      break;
  }
  lastBody = b;
  lastXml = xml;
  return xml;
}

function renderConfiguration(d: ConfigurationData): string {
  return (
    element('search', { defaultFunction: d.searchDefaultFunction, defaultFields: d.searchDefaultFields }) +
    textElement('enableAppearOffline', String(d.enableAppearOffline)) +
    element('imComposingTimers', { refreshInterval: d.composingRefreshS, timeout: d.composingTimeoutS }) +
    (d.userNotice ? textElement('userNotice', d.userNotice) : '')
  );
}

/**
 * V8 keeps a string built by `+` as a tree of its pieces until a character of it is read,
 * then flattens it in place. A stored event is read only when it is sent, so without this
 * it would sit in the log as its concatenation tree (measured: a configuration event 1,062
 * bytes of heap as a tree, 225 flat).
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/**
 * Renders an event as a head/tail pair around its (not yet known) eid; the tail is shared
 * by every recipient. `layout` is the gateway's (--xml-layout): every node of a cluster
 * renders with the same one, as their logs must hold the same bytes.
 */
export function toRecord(ev: CwaEvent, layout: XmlLayout = 'compact'): EventRecord {
  const record = renderRecord(ev, layout);
  record.tail = flat(record.tail);
  return record;
}

function renderRecord(ev: CwaEvent, layout: XmlLayout): EventRecord {
  switch (ev.kind) {
    case 'conference':
      // Compact in every layout: the reference shows a conference's child on the
      // conference's own line, and clients read conferences as they come today.
      return {
        head: '<conference eid="',
        tail: `" confId="${ev.confId}">${renderConferenceBody(ev.body)}</conference>`,
        lazy: ev.body.type === 'messageIdReceived',
      };
    case 'configuration':
      return { head: '<configuration eid="', tail: `">${layoutContent(layout, renderConfiguration(ev.data), 1)}</configuration>` };
    case 'requestSucceeded':
      return { head: '<requestSucceeded eid="', tail: `"${attrs({ rid: ev.rid })}/>` };
    case 'requestFailed':
      return {
        head: '<requestFailed eid="',
        tail: `"${attrs({ rid: ev.rid })}>${layoutContent(layout, renderError(cwaErrorOf(ev.error)), 1)}</requestFailed>`,
      };
    case 'sessionTerminated':
      return {
        head: '<sessionTerminated eid="',
        tail: `"${attrs({ reason: ev.reason })}>${layoutContent(layout, renderError(cwaErrorOf({ ended: ev.reason })), 1)}</sessionTerminated>`,
      };
    default:
      return userDataRecord(ev, layout);
  }
}

export function recordXml(r: EventRecord, eid: number): string {
  return r.head + eid + r.tail;
}

