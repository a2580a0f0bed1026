// Which WebSocket the client uses: the platform's (browsers, Node 22+) or, in Node 20
// where there is none, the `ws` package. A browser WebSocket cannot send headers, so
// the ticket then travels as the `ticket` query parameter.

/** The part of the WHATWG WebSocket interface the client uses (the `ws` package has it too). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface WebSocketSupport {
  create(url: string, headers: Record<string, string>): WebSocketLike;
  /** Whether `create` sends `headers` (else the ticket goes in the URL). */
  canSetHeaders: boolean;
}

export const OPEN = 1;

/** A WebSocket constructor (the platform's, or the `ws` package's). */
export type WebSocketCtor = new (url: string, ...rest: unknown[]) => WebSocketLike;

/** Wraps a WebSocket class: the `ws` package's takes headers, a WHATWG one does not. */
export function webSocketSupport(ctor: WebSocketCtor, canSetHeaders: boolean): WebSocketSupport {
  return {
    canSetHeaders,
    create: (url, headers) => (canSetHeaders ? new ctor(url, { headers }) : new ctor(url)),
  };
}

/** The platform's WebSocket, else the `ws` package; undefined when neither is available (polling only). */
export async function defaultWebSocket(): Promise<WebSocketSupport | undefined> {
  const platform = (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  if (typeof platform === 'function') return webSocketSupport(platform, false);
  try {
    const mod = (await import('ws')) as unknown as { default: WebSocketCtor };
    return webSocketSupport(mod.default, true);
  } catch {
    return undefined;
  }
}
