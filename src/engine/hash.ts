// One-shot digests of short strings (tickets, request bodies): crypto.hash (Node >= 20.12)
// skips the Hash object createHash builds, about a microsecond per call; older Node 20
// releases fall back to createHash.
import * as crypto from 'node:crypto';

type Encoding = 'base64' | 'base64url' | 'hex';

export const digestOf: (algorithm: 'sha1' | 'sha256', text: string, encoding: Encoding) => string =
  typeof crypto.hash === 'function'
    ? (algorithm, text, encoding) => crypto.hash(algorithm, text, encoding)
    : (algorithm, text, encoding) => crypto.createHash(algorithm).update(text).digest(encoding);
