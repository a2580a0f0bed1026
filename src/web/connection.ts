// Tells the page how the connection is: "Connected" (events on a WebSocket), "Polling" (the
// long-poll fallback) or "Reconnecting" (the gateway cannot be reached right now, or the client
// is signing in again after the gateway lost its session). It sees the client's traffic through
// the fetch and WebSocket the client is given.
import type { TransportName, WebSocketLike, WebSocketSupport } from 'cwa-gateway/client';

export type ConnectionState = 'Connected' | 'Polling' | 'Reconnecting';

/** A socket that was open at least this long and then dropped means the connection was lost. */
const HEALTHY_SOCKET_MS = 1000;

export class ConnectionMonitor {
  private transport: TransportName | undefined;
  private failing = false;
  private recovering = false;
  private last: ConnectionState | undefined;

  constructor(private readonly onChange: (state: ConnectionState) => void) {}

  readonly fetch: typeof fetch = async (input, init) => {
    try {
      const res = await fetch(input, init);
      // A refusal (401, 404 …) says the gateway is there, not that the page is connected.
      if (res.status >= 500) this.failed();
      else if (res.ok) this.reached();
      return res;
    } catch (err) {
      // A poll the client itself abandoned (to switch to a WebSocket) says nothing about the gateway.
      if (!(err instanceof DOMException && err.name === 'AbortError')) this.failed();
      throw err;
    }
  };

  readonly webSocket: WebSocketSupport = {
    canSetHeaders: false,
    create: (url) => {
      const ws = new WebSocket(url);
      let openedAt: number | undefined;
      ws.addEventListener('open', () => {
        openedAt = Date.now();
        this.reached();
      });
      ws.addEventListener('close', (ev) => {
        if (openedAt !== undefined && ev.code !== 1000 && Date.now() - openedAt >= HEALTHY_SOCKET_MS) this.failed();
      });
      return ws as unknown as WebSocketLike;
    },
  };

  setTransport(t: TransportName | undefined): void {
    this.transport = t;
    this.emit();
  }

  /** The client is signing in again (between onSessionLost and onSignedInAgain). */
  setRecovering(on: boolean): void {
    this.recovering = on;
    this.emit();
  }

  get state(): ConnectionState {
    if (this.failing || this.recovering) return 'Reconnecting';
    return this.transport === 'polling' ? 'Polling' : 'Connected';
  }

  private failed(): void {
    this.failing = true;
    this.emit();
  }

  private reached(): void {
    this.failing = false;
    this.emit();
  }

  private emit(): void {
    const s = this.state;
    if (s === this.last) return;
    this.last = s;
    this.onChange(s);
  }
}
