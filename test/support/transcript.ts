// The project's tests replay fixtures/ with the package's own replayer (cwa-gateway/testing,
// src/testing/): this file adapts it to mocha, where a difference is a thrown error.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replayTranscript, type ReplayTarget } from '../../src/testing/replay.js';
import { loadTranscript, transcriptFiles, type Transcript } from '../../src/testing/transcript.js';

export { Bindings, compareEvents, compareNode, matchTemplate, Mismatch } from '../../src/testing/match.js';
export { parseTranscript as parseFixture, RECORD, TranscriptError as FixtureError, usesManualClock } from '../../src/testing/transcript.js';
export type { RecordedAnswer } from '../../src/testing/replay.js';
export type Fixture = Transcript;

/** The answer differs from the transcript. */
export class TranscriptMismatch extends Error {
  override name = 'TranscriptMismatch';
}

/** The repository's fixtures/ folder (dist/test/support/ -> the repository root). */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures', import.meta.url));

/** Every transcript under fixtures/, in a stable order, named relative to the repository. */
export function fixtureFiles(dir = FIXTURES_DIR): { file: string; name: string }[] {
  return transcriptFiles([dir], join(FIXTURES_DIR, '..'));
}

export function loadFixtureFile(path: string, name: string): Transcript {
  return loadTranscript(path, name);
}

/** Replays a fixture; the first difference is thrown, its message naming file, step and place. */
export async function replayFixture(
  fx: Transcript,
  baseUrl: string,
  advance?: (ms: number) => Promise<void>,
  onAnswer?: ReplayTarget['onAnswer'],
): Promise<void> {
  const result = await replayTranscript(fx, { url: baseUrl, advance, onAnswer });
  const failure = result.steps.find((s) => s.failure)?.failure;
  if (failure) throw new TranscriptMismatch(failure.message);
}
