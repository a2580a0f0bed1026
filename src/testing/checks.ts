// What every answer and frame must be, whatever a transcript expects: valid against
// schemas/, the delivery contract kept; and the status and headers a step expects.
import { DocumentSchema } from '../protocol/schema.js';
import type { XNode } from '../protocol/xml-tree.js';
import { Bindings, matchTemplate, Mismatch, render } from './match.js';
import { RECORD, type Expectation } from './transcript.js';

let schemas: { responses: DocumentSchema; events: DocumentSchema; frames: DocumentSchema } | undefined;

/** Schema errors of an answer or a WebSocket frame, chosen by its root element. */
export function documentErrors(xml: string): string[] {
  schemas ??= { responses: DocumentSchema.load('cwa-responses.xsd'), events: DocumentSchema.load('cwa-events.xsd'), frames: DocumentSchema.load('ws-frames.xsd') };
  const root = xml.replace(/^\s*(<\?xml[^>]*\?>\s*)?/, '');
  return (root.startsWith('<cwaEvents') ? schemas.events : root.startsWith('<ticket') ? schemas.frames : schemas.responses).errors(xml);
}

/** Data-channel parameters the way the gateway reads them: names without case, empty pairs skipped. */
export function queryValue(query: string, name: string): string | undefined {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).toLowerCase() === name) return decodeURIComponent(pair.slice(eq + 1));
  }
  return undefined;
}

/** The delivery contract every 200 poll answer must keep, whatever the transcript expects. */
export function checkDeliveryContract(root: XNode, query: string): void {
  if (root.name !== 'cwaEvents') throw new Mismatch('/', `a 200 data-channel answer must be cwaEvents, got ${render(root)}`);
  const sid = queryValue(query, 'sid');
  if (sid !== undefined && root.attrs.sid !== sid.trim()) throw new Mismatch('/cwaEvents/@sid', `delivery contract: polled Sid ${sid}, answered sid="${root.attrs.sid}"`);
  if (root.children.length === 0) return;
  const eids = root.children.map((c) => Number(c.attrs.eid));
  const asked = Number(queryValue(query, 'ackid')?.trim() || 0);
  eids.forEach((eid, i) => {
    const want = asked + 1 + i;
    if (eid !== want) throw new Mismatch(`events[${i}]/@eid`, `delivery contract: AckId=${asked} must be answered with eids ${asked + 1}, ${asked + 2}, … in order; got ${eids.join(', ')}`);
  });
  if (root.attrs.ackId !== String(eids[eids.length - 1])) {
    throw new Mismatch('/cwaEvents/@ackId', `delivery contract: ackId must be the last eid (${eids[eids.length - 1]}), got "${root.attrs.ackId}"`);
  }
}

/** Where a WebSocket stands in its event stream (replay-ws.ts's ReplaySocket keeps it). */
export interface FrameCursor {
  /** The Sid the socket attached with, as sent. */
  readonly sid: string | undefined;
  /** No event frame read yet (the first may be empty, its ackId the head). */
  first: boolean;
  /** The eid the next event frame continues from. */
  cursor: number;
}

/** The delivery contract every event frame must keep: the socket's Sid, eids on from the last frame (or the attach AckId). */
export function checkFrameContract(root: XNode, s: FrameCursor): void {
  if (s.sid !== undefined && root.attrs.sid !== s.sid) throw new Mismatch('frame/cwaEvents/@sid', `delivery contract: attached with Sid ${s.sid}, frame has sid="${root.attrs.sid}"`);
  const first = s.first;
  s.first = false;
  if (root.children.length === 0) {
    // The first frame confirms the attach: its ackId is the head (which may correct a cursor that was ahead).
    if (first) s.cursor = Number(root.attrs.ackId);
    return;
  }
  const eids = root.children.map((c) => Number(c.attrs.eid));
  eids.forEach((eid, i) => {
    if (eid !== s.cursor + 1 + i) {
      throw new Mismatch(`frame/events[${i}]/@eid`, `delivery contract: after eid ${s.cursor} the socket must send ${s.cursor + 1}, ${s.cursor + 2}, … in order; got ${eids.join(', ')}`);
    }
  });
  if (root.attrs.ackId !== String(eids[eids.length - 1])) {
    throw new Mismatch('frame/cwaEvents/@ackId', `delivery contract: ackId must be the last eid (${eids[eids.length - 1]}), got "${root.attrs.ackId}"`);
  }
  s.cursor = eids[eids.length - 1]!;
}

/** One exchange of a step, kept for the failure message. */
export interface Exchange { request: string; raw?: { status: number; body: string }; frame?: string }

/** Status and headers an answer must have (also a WebSocket handshake's). */
export function compareStatusAndHeaders(expectation: Expectation, status: number, headers: Headers, b: Bindings, from: string): void {
  if (expectation.status !== RECORD && status !== expectation.status) throw new Mismatch('', `HTTP status: expected ${expectation.status}, got ${status}`);
  for (const [h, template] of Object.entries(expectation.headers)) {
    const actual = headers.get(h);
    if (template === null) {
      if (actual !== null) throw new Mismatch(`header ${h}`, `must be absent, got "${actual}"`);
      continue;
    }
    if (actual === null) throw new Mismatch(`header ${h}`, `missing (expected ${JSON.stringify(template)})`);
    const diff = matchTemplate(template, actual, b, from);
    if (diff) throw new Mismatch(`header ${h}`, diff);
  }
}

