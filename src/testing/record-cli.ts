// `cwa-gateway record`: placeholder until the recorder lands.
import type { CliIo } from '../cli.js';

export async function recordCommand(_args: readonly string[], io: CliIo): Promise<number> {
  io.stderr.write('cwa-gateway record: not available yet\n');
  return 2;
}
