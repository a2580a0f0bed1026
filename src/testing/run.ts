// Replays transcript files: each against a fresh embedded gateway (settings from its
// `gateway` block), or all against a running server.
import { readFile } from 'node:fs/promises';
import { OPTIONS } from '../config.js';
import { UserDirectory, UserDirectoryError } from '../users/directory.js';
import { startEmbeddedGateway } from './gateway.js';
import { replayTranscript, type Credentials, type TranscriptResult } from './replay.js';
import { loadTranscript, TranscriptError, transcriptFiles, usesManualClock, type Transcript } from './transcript.js';

export interface ReplayOptions {
  /** A running server's base URL; without it each transcript gets a fresh embedded gateway. */
  target?: string;
  /**
   * A users file (the `--users` format): the passwords of the recorded logons, and the users
   * an embedded gateway serves. Without it: the demo users.
   */
  credentialsFile?: string;
  /** How long a client waits for expected events (default 10000). */
  timeoutMs?: number;
  /** Names in results are relative to this folder (default: the working directory). */
  base?: string;
  /** Called as each transcript finishes (a reporter that prints as it goes). */
  onResult?: (result: TranscriptResult) => void;
}

export interface ReplayReport {
  /** Every step of every transcript matched. */
  passed: boolean;
  /** Some transcript could not be read (its result has `unreadable`). */
  unreadable: boolean;
  results: TranscriptResult[];
}

/** Reads a users file for replay: the clear-text passwords by login, and the directory to serve. */
export async function loadCredentials(file: string): Promise<{ credentials: Credentials; users: UserDirectory }> {
  const users = await UserDirectory.fromFile(file);
  const doc = JSON.parse(await readFile(file, 'utf8')) as { users: { login: string; password?: string }[] };
  const passwords = new Map(doc.users.filter((u) => typeof u.password === 'string').map((u) => [u.login.toLowerCase(), u.password!]));
  return { credentials: (login) => passwords.get(login.toLowerCase()), users };
}

/** Replays one loaded transcript (see `replay` for the options). */
export async function replayOne(t: Transcript, opts: Omit<ReplayOptions, 'credentialsFile' | 'onResult'> & { credentials?: Credentials; users?: UserDirectory } = {}): Promise<TranscriptResult> {
  if (opts.target) {
    const result = await replayTranscript(t, { url: opts.target.replace(/\/+$/, ''), credentials: opts.credentials, timeoutMs: opts.timeoutMs });
    return { ...result, serverFlags: serverFlags(t) };
  }
  const manual = usesManualClock(t);
  let gw;
  try {
    gw = await startEmbeddedGateway({ holdMs: 0, ...t.gateway }, { manualClock: manual, users: opts.users });
  } catch (err) {
    return { file: t.file, title: t.title, passed: false, durationMs: 0, steps: [], error: `the gateway did not start: ${(err as Error).message}` };
  }
  try {
    const advance = async (ms: number) => {
      gw.clock!.advance(ms);
      await gw.gateway.tick();
    };
    return await replayTranscript(t, { url: gw.url, advance: manual ? advance : undefined, credentials: opts.credentials, timeoutMs: opts.timeoutMs });
  } finally {
    await gw.close();
  }
}

/** The `cwa-gateway serve` flags for the settings a replay would start the transcript's own gateway with. */
export function serverFlags(t: Transcript): string[] {
  const settings: Record<string, unknown> = { holdMs: 0, ...t.gateway };
  return Object.entries(settings).map(([key, value]) => `${OPTIONS.find((o) => o.key === key)?.flag ?? key} ${String(value)}`);
}

/**
 * Replays transcript files and folders (searched for *.json), in order. A transcript that
 * cannot be read is a result with `error` and `unreadable`; the others still run.
 */
export async function replay(paths: string | readonly string[], opts: ReplayOptions = {}): Promise<ReplayReport> {
  const list = transcriptFiles(typeof paths === 'string' ? [paths] : paths, opts.base);
  let credentials: Credentials | undefined;
  let users: UserDirectory | undefined;
  if (opts.credentialsFile !== undefined) ({ credentials, users } = await loadCredentials(opts.credentialsFile));
  const results: TranscriptResult[] = [];
  let unreadable = false;
  for (const { file, name } of list) {
    let result: TranscriptResult;
    try {
      const t = loadTranscript(file, name);
      result = await replayOne(t, { ...opts, credentials, users });
    } catch (err) {
      if (!(err instanceof TranscriptError)) throw err;
      unreadable = true;
      result = { file: name, title: '', passed: false, durationMs: 0, steps: [], error: err.message, unreadable: true };
    }
    results.push(result);
    opts.onResult?.(result);
  }
  return { passed: results.length > 0 && results.every((r) => r.passed), unreadable, results };
}

export { UserDirectoryError };
