// Incoming documents: screened (limits, no DOCTYPE/entities/PIs), parsed, each
// request validated against the schema and decoded to a typed request.
import { cwaError, ErrorCode, type CwaError } from './cwa-errors.js';
import { cwaErrorOf } from './cwa-outcomes.js';
import type { CwaRequest, LogonRequest, Outcome } from '../engine/types.js';
import { decodeLogon, decodeRequest } from './requests.js';
import { CWA_NAMESPACE, type RequestSchema } from './schema.js';
import { attr, parseXmlTree, XmlRejectedError, type XmlLimits, type XNode } from './xml-tree.js';

export interface CodecLimits extends XmlLimits {
  maxRequestsPerBatch: number;
}

export type BatchItem =
  | { status: 'ok'; request: CwaRequest; node: XNode }
  | { status: 'invalid'; rid: string; name: string; error: Outcome }
  | { status: 'unknown'; rid: string; name: string; error: Outcome };

export interface DecodedBatch {
  /** The `sid` attribute, when present and numeric. */
  sid?: number;
  items: BatchItem[];
}

/** A document the gateway refuses as a whole (answered with HTTP 400 and an `error`). */
export class DocumentRejectedError extends Error {
  constructor(readonly error: CwaError, readonly kind: string) {
    super(error.detail);
    this.name = 'DocumentRejectedError';
  }
}

export function decodeBatch(text: string, limits: CodecLimits, schema: RequestSchema): DecodedBatch {
  let root: XNode;
  try {
    root = parseXmlTree(text, limits);
  } catch (err) {
    if (err instanceof XmlRejectedError) throw new DocumentRejectedError(cwaError(ErrorCode.InvalidFormat, err.message), err.kind);
    throw err;
  }
  if (root.name !== 'cwaRequests') {
    throw new DocumentRejectedError(cwaError(ErrorCode.InvalidFormat, `the root element must be cwaRequests, not ${root.name}`), 'root');
  }
  if (root.ns !== '' && root.ns !== CWA_NAMESPACE) {
    throw new DocumentRejectedError(cwaError(ErrorCode.InvalidFormat, `cwaRequests must be in the namespace ${CWA_NAMESPACE}`), 'namespace');
  }
  if (root.children.length > limits.maxRequestsPerBatch) {
    throw new DocumentRejectedError(
      cwaError(ErrorCode.InvalidRequest, `a batch may hold at most ${limits.maxRequestsPerBatch} requests`),
      'batchSize',
    );
  }
  let verdicts;
  try {
    verdicts = schema.validateTree(root, text);
  } catch (err) {
    if (err instanceof XmlRejectedError) throw new DocumentRejectedError(cwaError(ErrorCode.InvalidFormat, err.message), err.kind);
    throw err;
  }
  if (verdicts.length !== root.children.length) throw new Error('schema and tree disagree on the number of requests');
  const items = root.children.map((node, i): BatchItem => {
    const verdict = verdicts[i]!;
    const rid = attr(node, 'rid') ?? '';
    if (verdict.valid) return { status: 'ok', request: decodeRequest(node), node };
    if (verdict.unknown) {
      return { status: 'unknown', rid, name: node.name, error: { refused: 'unknownRequest', name: node.name } };
    }
    return {
      status: 'invalid',
      rid,
      name: node.name,
      error: { refused: 'invalidInput', detail: `invalid ${node.name}: ${verdict.errors.map(cleanSchemaMessage).join('; ')}` },
    };
  });
  const sidText = attr(root, 'sid');
  const sid = sidText !== undefined && /^\s*\d+\s*$/.test(sidText) ? Number(sidText) : undefined;
  return { sid, items };
}

/** libxml2 messages name elements as {namespace}local; the namespace is noise for a client. */
function cleanSchemaMessage(m: string): string {
  return m.replaceAll(`{${CWA_NAMESPACE}}`, '').replace(/\s+/g, ' ').trim();
}

export function findLogon(batch: DecodedBatch): { logon: LogonRequest } | { error: CwaError } {
  const item = batch.items.find((i) => (i.status === 'ok' ? i.node.name : i.name) === 'logon');
  if (!item) return { error: cwaError(ErrorCode.InvalidRequest, 'the body holds no logon request') };
  if (item.status !== 'ok') return { error: cwaErrorOf(item.error) };
  return { logon: decodeLogon(item.node) };
}
