// The bench's user population: u0, u1, ... at example.com, all with one clear-text
// password (a directory without scrypt hashes makes sign-in cheap, as the demo one is).
import type { UserEntry } from '../src/users/directory.js';

export const BENCH_PASSWORD = 'bench-pw';

export function benchLogin(i: number): string {
  return `u${i}`;
}

export function benchUsers(count: number): UserEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    login: benchLogin(i),
    uri: `sip:${benchLogin(i)}@example.com`,
    displayName: `Bench User ${i}`,
    password: BENCH_PASSWORD,
  }));
}
