// Every HTTP answer of the gateway goes through here: XML content type, no caching,
// and the client's current CWA-Ticket on every response that has one.
import type { Response } from 'express';
import type { CwaError } from '../../protocol/cwa-errors.js';
import { renderErrorResponse } from '../../protocol/responses.js';

export const XML_CONTENT_TYPE = 'text/xml; charset=utf-8';

export function sendXml(res: Response, status: number, body: string, ticket?: string): void {
  res.status(status);
  res.setHeader('Content-Type', XML_CONTENT_TYPE);
  res.setHeader('Cache-Control', 'no-cache, no-store');
  if (ticket) res.setHeader('CWA-Ticket', ticket);
  res.end(body);
}

export function sendError(res: Response, status: number, error: CwaError, ticket?: string): void {
  res.locals.cwaError = error.code; // for the request's log line and the errors metric
  sendXml(res, status, renderErrorResponse(error), ticket);
}
