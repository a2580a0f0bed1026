// Redis (or any networked store) not answering: the request fails fast with 503 and the
// gateway keeps serving; the client retries later. A Redis *reply* error (a script or
// type bug) is not this: it stays an internal error (500).
import { ReplyError } from 'ioredis';

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Rethrows a connection-level failure of a Redis call as StoreUnavailableError. */
export function unavailable(err: unknown): never {
  if (err instanceof StoreUnavailableError || err instanceof ReplyError) throw err;
  const detail = err instanceof Error ? err.message : String(err);
  throw new StoreUnavailableError(`Redis is unavailable: ${detail}`, { cause: err });
}

/** Awaits a Redis call, turning connection failures into StoreUnavailableError. */
export async function guarded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    return unavailable(err);
  }
}
