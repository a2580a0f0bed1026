// Where the engine's unguessable values come from (tickets, focus URIs, conversation ids).
// A single gateway draws them from the operating system. Nodes that replay one command
// stream (cluster/) must draw the same values for the same command: the node that
// proposes a command puts a random seed in it, and every node derives the values from
// that seed (SHA-256 in counter mode), so they stay unguessable and identical everywhere.
import { createHash, randomBytes, randomUUID } from 'node:crypto';

export interface RandomSource {
  bytes(n: number): Buffer;
  uuid(): string;
}

export const cryptoRandom: RandomSource = {
  bytes: (n) => randomBytes(n),
  uuid: () => randomUUID(),
};

/** Bytes derived from the seed of the command being applied. */
export class SeededRandom implements RandomSource {
  private seed = Buffer.alloc(0);
  private counter = 0;

  /** Every command carries 16 random bytes (hex) from the node that proposed it. */
  reseed(seedHex: string): void {
    this.seed = Buffer.from(seedHex, 'hex');
    this.counter = 0;
  }

  bytes(n: number): Buffer {
    if (this.seed.length < 16) throw new Error('SeededRandom used before a command seeded it');
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const block = createHash('sha256').update(this.seed).update(String(this.counter++)).digest();
      parts.push(block);
      have += block.length;
    }
    return Buffer.concat(parts).subarray(0, n);
  }

  uuid(): string {
    const b = this.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

/** A fresh seed for a command. */
export function newSeed(): string {
  return randomBytes(16).toString('hex');
}
