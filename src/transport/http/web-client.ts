// The web client's static files at /app/ (built by scripts/build-web.mjs into dist/web):
// index.html, never cached without asking (no-cache + ETag), and assets whose names carry a
// hash of their content, cached for a year as immutable. The page runs only its own script
// and style sheet: a Content-Security-Policy without inline script or any other origin.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express, Request, Response } from 'express';

/** Where the build puts the web client (dist/web, next to dist/src). */
export const WEB_CLIENT_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

export const WEB_CLIENT_PATH = '/app/';

/**
 * What the page may load: its own script and style sheet, its own fetches and WebSocket
 * ('self' covers ws:/wss: of the same host in CSP 3), its own images; nothing inline, no other
 * origin, no frames, no plug-ins.
 */
export const WEB_CLIENT_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** The built web client, read once (it is small); undefined when it was not built. */
export class WebClientFiles {
  private constructor(private readonly files: Map<string, StaticFile>) {}

  static load(dir: string = WEB_CLIENT_DIR): WebClientFiles | undefined {
    if (!existsSync(join(dir, 'index.html'))) return undefined;
    const files = new Map<string, StaticFile>();
    const add = (urlPath: string, file: string, immutable: boolean) => {
      const body = readFileSync(file);
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      files.set(urlPath, { body, type, immutable, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    };
    add('', join(dir, 'index.html'), false);
    const assets = join(dir, 'assets');
    if (existsSync(assets)) for (const name of readdirSync(assets)) add(`assets/${name}`, join(assets, name), true);
    return new WebClientFiles(files);
  }

  get(path: string): StaticFile | undefined {
    return this.files.get(path);
  }
}

function send(req: Request, res: Response, file: StaticFile): void {
  res.setHeader('Content-Security-Policy', WEB_CLIENT_CSP);
  res.setHeader('Content-Type', file.type);
  res.setHeader('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  res.setHeader('ETag', file.etag);
  if (req.get('If-None-Match') === file.etag) {
    res.status(304).end();
    return;
  }
  res.setHeader('Content-Length', String(file.body.length));
  res.status(200);
  if (req.method === 'HEAD') res.end();
  else res.end(file.body);
}

/** GET/HEAD /app/ and /app/assets/*; /app redirects to /app/. Anything else under /app/ falls through (404). */
export function webClientRoutes(app: Express, files: WebClientFiles): void {
  app.get(/^\/app(\/.*)?$/, (req, res, next) => {
    if (req.path === '/app') {
      res.redirect(301, WEB_CLIENT_PATH);
      return;
    }
    const rest = req.path.slice(WEB_CLIENT_PATH.length);
    const file = rest === '' || rest === 'index.html' ? files.get('') : files.get(rest);
    if (!file) return next();
    send(req, res, file);
  });
}
