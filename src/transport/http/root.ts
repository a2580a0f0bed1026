// GET / (and HEAD /). Legacy clients fetch the server root before they sign in (the
// original served its sign-in page there) and give up on any status >= 400, so the root
// answers them 200, directly: not every client follows a redirect. Three kinds of
// caller share it, told apart by Accept in one place (rootCallerOf):
//   browser  Accept names text/html            -> 302 to the web client at /app/ (app.ts; 302 rather than
//                                                 303: every user agent and proxy knows it, it is temporary, as
//                                                 the answer depends on Accept and --no-web-client, and for a GET
//                                                 browsers treat both alike); with --no-web-client a page naming the gateway
//   ucwa     no Accept, */*, JSON or XML       -> (later) the UCWA autodiscover document; today plain text
//   text     anything else (text/plain …)      -> a short plain-text page naming the gateway
import type { Express, Request, Response } from 'express';
import { escapeText } from '../../protocol/xml.js';
import { PACKAGE_VERSION } from '../../version.js';

export type RootCaller = 'browser' | 'ucwa' | 'text';

const HTML = new Set(['text/html', 'application/xhtml+xml']);
const UCWA = new Set(['application/json', 'application/xml', 'text/xml', 'application/*']);

export interface MediaRange {
  type: string;
  q: number;
}

export function mediaRanges(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';').map((p) => p.trim());
    if (!type) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    if (Number.isFinite(q) && q > 0) ranges.push({ type: type.toLowerCase(), q });
  }
  // Most preferred first; among equals, the order written.
  return ranges.map((r, i) => ({ r, i })).sort((a, b) => b.r.q - a.r.q || a.i - b.i).map(({ r }) => r);
}

/** Who is asking for the root, from its Accept header. */
export function rootCallerOf(accept: string | undefined): RootCaller {
  if (accept === undefined || accept.trim() === '') return 'ucwa';
  // The most preferred type the gateway knows decides (a browser puts text/html first).
  for (const r of mediaRanges(accept)) {
    if (HTML.has(r.type)) return 'browser';
    if (UCWA.has(r.type) || r.type.endsWith('+json') || r.type.endsWith('+xml')) return 'ucwa';
    if (r.type === '*/*') return 'ucwa';
    if (r.type.startsWith('text/')) return 'text';
  }
  return 'text';
}

export interface RootPaths {
  logon: string[];
  command: string;
  data: string;
}

/** The plain-text page: the gateway's name and version, its public address when configured, and its endpoints. */
export function rootText(paths: RootPaths, publicUrl?: string): string {
  return [
    `cwa-gateway ${PACKAGE_VERSION}`,
    'A server for the UC AJAX API (Communicator Web Access 2007 R2).',
    ...(publicUrl !== undefined ? [`Public address: ${publicUrl}`] : []),
    '',
    `POST ${paths.logon.join(', ')}  sign in (logon)`,
    `POST ${paths.command}  command channel`,
    `GET  ${paths.data}?Sid=&AckId=&UA=  data channel (long poll, or WebSocket upgrade)`,
    'GET  /healthz, /readyz, /metrics  operations',
    '',
  ].join('\n');
}

function rootHtml(paths: RootPaths, publicUrl?: string): string {
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>cwa-gateway</title></head>' +
    `<body><pre>${escapeText(rootText(paths, publicUrl))}</pre></body></html>\n`
  );
}

/** What each kind of caller gets; the web client and the UCWA facade replace theirs when they exist. */
export type RootAnswers = Record<RootCaller, (req: Request, res: Response) => void>;

export function defaultRootAnswers(paths: RootPaths, publicUrl?: string): RootAnswers {
  const text = rootText(paths, publicUrl);
  const html = rootHtml(paths, publicUrl);
  const plain = (_req: Request, res: Response) => {
    res.status(200).type('text/plain; charset=utf-8').send(text);
  };
  return {
    browser: (_req, res) => {
      res.status(200).type('text/html; charset=utf-8').send(html);
    },
    ucwa: plain,
    text: plain,
  };
}

export function rootRoute(app: Express, answers: RootAnswers): void {
  app.get('/', (req, res) => {
    // The answer depends on Accept: a cache must not give a browser's page to another caller.
    res.setHeader('Vary', 'Accept');
    res.setHeader('Cache-Control', 'no-cache');
    answers[rootCallerOf(req.get('Accept'))](req, res);
  });
}
