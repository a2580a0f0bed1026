// The close codes of the WebSocket data channel. 4000-4999 are the application's
// range (RFC 6455 §7.4.2); the gateway uses 4001-4004 and the standard codes below.
// Every one of them but 4003 and 4004 means "attach again (or poll) with your
// cursor": nothing unacknowledged was lost.

export const CloseCode = {
  /** RFC 6455: the gateway is shutting down. */
  GoingAway: 1001,
  /** RFC 6455: a text frame that is not valid UTF-8 (sent by the `ws` library). */
  InvalidPayload: 1007,
  /** RFC 6455: a frame larger than --ws-max-payload-bytes (sent by the `ws` library). */
  MessageTooBig: 1009,
  /** RFC 6455: the gateway failed unexpectedly while serving the socket. */
  InternalError: 1011,
  /** Another attachment (a data-channel poll or a newer WebSocket) took over the session. */
  Superseded: 4001,
  /** More than --ws-max-buffered-bytes waited to be sent: the client reads too slowly. */
  TooSlow: 4002,
  /** The ticket the socket was opened with (or its successor) expired or was revoked. */
  NotAuthenticated: 4003,
  /** The session ended; every event, including the terminal one, was sent first. */
  SessionEnded: 4004,
} as const;
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Close reasons (at most 123 bytes by RFC 6455): the same words the docs use. */
export const CLOSE_REASONS: Record<number, string> = {
  [CloseCode.GoingAway]: 'gateway shutting down',
  [CloseCode.InternalError]: 'internal error',
  [CloseCode.Superseded]: 'superseded',
  [CloseCode.TooSlow]: 'too slow',
  [CloseCode.NotAuthenticated]: 'not authenticated',
  [CloseCode.SessionEnded]: 'session ended',
};
