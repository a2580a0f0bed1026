// Redis not answering: the request fails fast with 503 and the gateway keeps serving; the
// client retries later. (A Redis reply error, a script or type bug, is not this: it stays
// an internal error, 500.)

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
