// The frames of the WebSocket data channel (schemas/ws-frames.xsd). Each text frame
// holds exactly one XML document, as in RFC 7395.
//   client -> gateway: <ack ackId="N" [ua="true|false"]/>  or a <cwaRequests> batch
//   gateway -> client: <cwaEvents> (as a poll answer), <cwaResponses> (the answer to a
//                      batch, or an error for a frame it could not use), <ticket>
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import type { CwaError } from '../../protocol/cwa-errors.js';
import { CWA_NAMESPACE } from '../../protocol/schema.js';
import { parseXmlTree, XmlRejectedError, type XmlLimits } from '../../protocol/xml-tree.js';
import { escapeText } from '../../protocol/xml.js';

export type ClientFrame =
  | { kind: 'ack'; ackId: number; ua?: boolean }
  /** Anything else that is text goes to the command runner, which judges it like a POST body. */
  | { kind: 'command'; text: string }
  | { kind: 'invalid'; error: CwaError };

/** An `<ack` root, after an optional XML declaration; cheap enough to run on every frame. */
const ACK_ROOT = /^\s*(?:<\?xml\s[^>]*\?>\s*)?<ack[\s/>]/;
/** The ack as clients write it, taken without a parser (acks are the most frequent frame). */
const PLAIN_ACK = /^<ack ackId="(\d{1,15})"\/>$/;
const ACK_LIMITS: XmlLimits = { maxDepth: 1, maxElements: 1, maxAttributes: 4, maxAttributeLength: 64 };
/** The longest ack frame parsed: a real one is under 200 characters, even with a declaration and the namespace. */
export const MAX_ACK_CHARS = 1024;

export function classifyFrame(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ClientFrame {
  if (isBinary) return { kind: 'invalid', error: cwaError(ErrorCode.InvalidFormat, 'binary frames are not accepted: send each document as a text frame') };
  // The ws library has already checked that a text frame is valid UTF-8 (else it closes with 1007).
  // (A Buffer, as the ws library gives by default, is read as it is: Buffer.from would copy it.)
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
  const plain = PLAIN_ACK.exec(text);
  if (plain) return { kind: 'ack', ackId: Number(plain[1]) };
  if (!ACK_ROOT.test(text)) return { kind: 'command', text };
  // Refused unparsed: a 64 KB "ack" would cost a parse of 64 KB for nothing.
  if (text.length > MAX_ACK_CHARS) return { kind: 'invalid', error: cwaError(ErrorCode.InvalidRequest, `ack frame longer than ${MAX_ACK_CHARS} characters`) };
  return parseAck(text);
}

export function parseAck(text: string): ClientFrame {
  let root;
  try {
    root = parseXmlTree(text, ACK_LIMITS);
  } catch (err) {
    if (err instanceof XmlRejectedError) return { kind: 'invalid', error: cwaError(ErrorCode.InvalidFormat, `ack frame: ${err.message}`) };
    throw err;
  }
  if (root.ns !== '' && root.ns !== CWA_NAMESPACE) {
    return { kind: 'invalid', error: cwaError(ErrorCode.InvalidFormat, 'ack must have no namespace (or the CWA namespace)') };
  }
  const unknown = Object.keys(root.attrs).filter((k) => k !== 'ackId' && k !== 'ua');
  if (unknown.length > 0) return { kind: 'invalid', error: cwaError(ErrorCode.InvalidRequest, `ack has no attribute ${unknown[0]}`) };
  const raw = root.attrs.ackId;
  if (raw === undefined || !/^\s*\d{1,15}\s*$/.test(raw)) {
    return { kind: 'invalid', error: cwaError(ErrorCode.InvalidRequest, 'ack needs ackId, a non-negative integer') };
  }
  const frame: ClientFrame = { kind: 'ack', ackId: Number(raw) };
  if (root.attrs.ua !== undefined) {
    const ua = root.attrs.ua.trim().toLowerCase();
    if (ua !== 'true' && ua !== 'false') return { kind: 'invalid', error: cwaError(ErrorCode.InvalidRequest, 'ack@ua must be true or false') };
    frame.ua = ua === 'true';
  }
  return frame;
}

/** Tells the client the ticket to use from now on (the socket's ticket was rotated). */
export function renderTicketFrame(ticket: string): string {
  return `<ticket>${escapeText(ticket)}</ticket>`;
}

/** The ack frame a client sends (used by the client library and the tests). */
export function renderAckFrame(ackId: number): string {
  return `<ack ackId="${ackId}"/>`;
}
