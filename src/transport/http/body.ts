// Request bodies: bounded in size before anything is parsed or decoded (express.raw
// enforces the limit from Content-Length, and while streaming for chunked bodies),
// decoded in the charset the client names (protocol/charset.ts), and refused when the
// content type is clearly not XML.
import express, { type NextFunction, type Request, type Response } from 'express';
import { cwaError, ErrorCode } from '../../engine/errors.js';
import { charsetParameter, decodeBody, supportedCharset } from '../../protocol/charset.js';
import { sendError } from './replies.js';

/**
 * XHR's default for a string body is text/plain, jQuery's `$.ajax` default is
 * application/x-www-form-urlencoded, and older clients send none at all: the body is read
 * as XML in every such case. Types that cannot carry the document (JSON, multipart …) are refused.
 */
const ACCEPTED_TYPES = new Set(['', 'text/xml', 'application/xml', 'text/plain', 'application/x-www-form-urlencoded']);

function acceptableType(type: string | undefined): boolean {
  if (!type) return true;
  const mime = type.split(';')[0]!.trim().toLowerCase();
  return ACCEPTED_TYPES.has(mime) || mime.endsWith('+xml');
}

/**
 * `fallbackCharset`: the charset of a body that is not UTF-8 and names none (--fallback-charset),
 * or undefined to refuse such a body.
 */
export function xmlBody(maxBytes: number, fallbackCharset?: string) {
  const raw = express.raw({ type: () => true, limit: maxBytes });
  return (req: Request, res: Response, next: NextFunction) => {
    const type = req.headers['content-type'];
    if (!acceptableType(type)) {
      sendError(res, 415, cwaError(ErrorCode.InvalidFormat, `content type ${type} is not accepted: send text/xml`));
      return;
    }
    // An unsupported charset parameter is refused before the body is read.
    const param = charsetParameter(type);
    if (param !== undefined && !supportedCharset(param)) {
      sendError(res, 415, cwaError(ErrorCode.InvalidFormat, `the charset "${param}" (the Content-Type charset) is not supported: send UTF-8 (or UTF-16, ISO-8859-1, windows-1252)`));
      return;
    }
    raw(req, res, (err?: unknown) => {
      if (err) {
        const e = err as { type?: string; status?: number };
        if (e.type === 'entity.too.large') {
          sendError(res, 413, cwaError(ErrorCode.InvalidFormat, `the body is larger than ${maxBytes} bytes`));
        } else {
          sendError(res, e.status && e.status < 500 ? e.status : 400, cwaError(ErrorCode.InvalidFormat, 'the request body could not be read'));
        }
        return;
      }
      const buf = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const decoded = decodeBody(buf, type, fallbackCharset);
      if (!decoded.ok) {
        sendError(res, decoded.status, cwaError(ErrorCode.InvalidFormat, decoded.detail));
        return;
      }
      (req as Request & { xml: string }).xml = decoded.text;
      next();
    });
  };
}

export function bodyText(req: Request): string {
  return (req as Request & { xml?: string }).xml ?? '';
}
