// Request bodies: bounded in size before anything is parsed (express.raw enforces the
// limit from Content-Length, and while streaming for chunked bodies), decoded as
// strict UTF-8, and refused when the content type is clearly not XML.
import express, { type NextFunction, type Request, type Response } from 'express';
import { cwaError, ErrorCode } from '../../engine/errors.js';
import { sendError } from './replies.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

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

export function xmlBody(maxBytes: number) {
  const raw = express.raw({ type: () => true, limit: maxBytes });
  return (req: Request, res: Response, next: NextFunction) => {
    if (!acceptableType(req.headers['content-type'])) {
      sendError(res, 415, cwaError(ErrorCode.InvalidFormat, `content type ${req.headers['content-type']} is not accepted: send text/xml`));
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
      try {
        (req as Request & { xml: string }).xml = utf8.decode(buf);
      } catch {
        sendError(res, 400, cwaError(ErrorCode.InvalidFormat, 'the body is not valid UTF-8'));
        return;
      }
      next();
    });
  };
}

export function bodyText(req: Request): string {
  return (req as Request & { xml?: string }).xml ?? '';
}
