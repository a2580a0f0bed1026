// The UCWA door's HTTP conventions: the representation a request asks for (JSON by
// default, XML for application/xml or the UCWA +xml type), answers and errors in it
// (§10), the 401 challenge (§2.2), and the absolute base of autodiscover links.
import type { Request, Response } from 'express';
import { documentXml, reasonXml, resourceJson, XML_DECL, type ErrorBody, type Resource } from '../../protocol/ucwa/resource.js';
import { mediaRanges } from '../http/root.js';

export type Representation = 'json' | 'xml';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const UCWA_XML = 'application/vnd.microsoft.com.ucwa+xml';

/** JSON unless the most preferred type the door knows is XML (no Accept, `*∕*`: JSON). */
export function representationOf(accept: string | undefined): { rep: Representation; xmlType: string } {
  for (const r of mediaRanges(accept ?? '')) {
    if (r.type === 'application/json' || r.type.endsWith('+json') || r.type === 'text/json') return { rep: 'json', xmlType: 'application/xml' };
    if (r.type === UCWA_XML) return { rep: 'xml', xmlType: UCWA_XML };
    if (r.type === 'application/xml' || r.type === 'text/xml' || r.type.endsWith('+xml')) return { rep: 'xml', xmlType: 'application/xml' };
    if (r.type === '*/*' || r.type === 'application/*') return { rep: 'json', xmlType: 'application/xml' };
  }
  return { rep: 'json', xmlType: 'application/xml' };
}

function noCache(res: Response): void {
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Expires', '-1');
}

export function sendResource(req: Request, res: Response, status: number, r: Resource): void {
  const { rep, xmlType } = representationOf(req.get('Accept'));
  noCache(res);
  res.status(status);
  if (rep === 'xml') {
    res.setHeader('Content-Type', `${xmlType}; charset=utf-8`);
    res.end(documentXml(r));
  } else {
    res.setHeader('Content-Type', JSON_TYPE);
    res.end(JSON.stringify(resourceJson(r)));
  }
}

/** A body already rendered in both forms (event pages). */
export function sendRendered(req: Request, res: Response, status: number, json: () => string, xml: () => string): void {
  const { rep, xmlType } = representationOf(req.get('Accept'));
  noCache(res);
  res.status(status);
  res.setHeader('Content-Type', rep === 'xml' ? `${xmlType}; charset=utf-8` : JSON_TYPE);
  res.end(rep === 'xml' ? xml() : json());
}

export function sendUcwaError(req: Request, res: Response, status: number, error: ErrorBody, extra: Record<string, string> = {}): void {
  res.locals.ucwaError = error.subcode ?? error.code;
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  sendRendered(
    req,
    res,
    status,
    () => JSON.stringify({ code: error.code, subcode: error.subcode ?? 'None', message: error.message ?? '' }),
    () => XML_DECL + reasonXml(error, true),
  );
}

/** 201 (or 204) with a relative Location and no body (§4.6). */
export function sendCreated(res: Response, location: string | undefined, status = 201): void {
  noCache(res);
  if (location) res.setHeader('Location', location);
  res.status(status).setHeader('Content-Length', '0');
  res.end();
}

export function sendNoContent(res: Response): void {
  noCache(res);
  res.status(204).end();
}

/** The scheme://host:port clients reach the gateway at: --public-url, else the request's own. */
export function baseUrlOf(req: Request, publicUrl: string | undefined, trustProxy: number): string {
  if (publicUrl !== undefined) return publicUrl;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const forwarded = trustProxy > 0 ? req.get('X-Forwarded-Proto')?.split(',')[0]?.trim().toLowerCase() : undefined;
  const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : encrypted ? 'https' : 'http';
  const host = req.get('Host') ?? 'localhost';
  return `${scheme}://${host}`;
}

/** The two challenges of a UCWA 401 (§2.2): MsRtcOAuth with href first, then Bearer. */
export function challenge(res: Response, tokenUrl: string): void {
  res.setHeader('WWW-Authenticate', [
    `MsRtcOAuth href="${tokenUrl}",grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"`,
    'Bearer trusted_issuers="", client_id="00000004-0000-0ff1-ce00-000000000000"',
  ]);
}
