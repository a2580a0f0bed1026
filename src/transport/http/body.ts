// Request bodies: bounded in size before anything is parsed or decoded (from
// Content-Length, and by express.raw while streaming for chunked bodies),
// decoded in the charset the client names (protocol/charset.ts), and refused when the
// content type is clearly not XML.
import express, { type Request, type Response } from 'express';
import { cwaError, ErrorCode } from '../../protocol/cwa-errors.js';
import { charsetParameter, decodeBody, supportedCharset } from '../../protocol/charset.js';
import type { Exchange } from './exchange.js';

/**
 * XHR's default for a string body is text/plain, jQuery's `$.ajax` default is
 * application/x-www-form-urlencoded, and older clients send none at all: the body is read
 * as XML in every such case. Types that cannot carry the document (JSON, multipart …) are refused.
 */
const ACCEPTED_TYPES = new Set(['', 'text/xml', 'application/xml', 'text/plain', 'application/x-www-form-urlencoded']);

function acceptableType(type: string | undefined): boolean {
  if (!type || type === 'text/xml') return true; // (what nearly every client sends: no split, trim or lower-casing)
  const mime = type.split(';')[0]!.trim().toLowerCase();
  return ACCEPTED_TYPES.has(mime) || mime.endsWith('+xml');
}

/**
 * The body of a request on a CWA path as text, or undefined once answered with an error
 * (or when the client went away). The common case, a body of known length within the bound
 * and not compressed, is read here; anything else (chunked, Content-Encoding, over the
 * bound) goes through `express.raw` exactly as on the Express routes.
 */
export function readXmlBody(x: Exchange, maxBytes: number, fallbackCharset?: string): Promise<string | undefined> {
  const { req } = x;
  const type = req.headers['content-type'];
  if (!acceptableType(type)) {
    x.error(415, cwaError(ErrorCode.InvalidFormat, `content type ${type} is not accepted: send text/xml`));
    return NOTHING;
  }
  const param = charsetParameter(type);
  if (param !== undefined && !supportedCharset(param)) {
    x.error(415, cwaError(ErrorCode.InvalidFormat, `the charset "${param}" (the Content-Type charset) is not supported: send UTF-8 (or UTF-16, ISO-8859-1, windows-1252)`));
    return NOTHING;
  }
  const decode = (buf: Buffer): string | undefined => {
    const decoded = decodeBody(buf, type, fallbackCharset);
    if (decoded.ok) return decoded.text;
    x.error(decoded.status, cwaError(ErrorCode.InvalidFormat, decoded.detail));
    return undefined;
  };
  const { 'content-length': length, 'transfer-encoding': chunked, 'content-encoding': encoding } = req.headers;
  // No body at all (body-parser's hasBody): read as empty.
  if (length === undefined && chunked === undefined) return Promise.resolve(decode(EMPTY));
  const plain = encoding === undefined || encoding.toLowerCase() === 'identity';
  if (length !== undefined && chunked === undefined && plain && Number(length) <= maxBytes) {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      });
      req.once('end', () => resolve(decode(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))));
      // Cut short: the client is gone (its connection's close counts it, exchange.ts).
      req.once('error', () => resolve(undefined));
      req.once('close', () => resolve(undefined));
    });
  }
  return new Promise((resolve) => {
    rawOf(maxBytes)(req as Request, x.res as Response, (err?: unknown) => {
      if (err) {
        const e = err as { type?: string; status?: number };
        if (e.type === 'entity.too.large') x.error(413, cwaError(ErrorCode.InvalidFormat, `the body is larger than ${maxBytes} bytes`));
        else x.error(e.status && e.status < 500 ? e.status : 400, cwaError(ErrorCode.InvalidFormat, 'the request body could not be read'));
        return resolve(undefined);
      }
      const body = (req as Request).body as unknown;
      resolve(decode(Buffer.isBuffer(body) ? body : EMPTY));
    });
  });
}

const NOTHING: Promise<undefined> = Promise.resolve(undefined);
const EMPTY = Buffer.alloc(0);
const raws = new Map<number, ReturnType<typeof express.raw>>();
function rawOf(maxBytes: number): ReturnType<typeof express.raw> {
  let raw = raws.get(maxBytes);
  if (!raw) raws.set(maxBytes, (raw = express.raw({ type: () => true, limit: maxBytes })));
  return raw;
}
