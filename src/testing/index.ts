/**
 * `cwa-gateway/testing`: transcripts of UC AJAX API conversations, replayed against a
 * gateway (or any UC AJAX API server) from any test runner.
 *
 *   import { replay } from 'cwa-gateway/testing';
 *   const report = await replay('recordings/');           // a fresh embedded gateway per file
 *   if (!report.passed) console.log(report.results.flatMap((r) => r.steps).find((s) => s.failure));
 *
 * The format is documented in fixtures/README.md; schemas/transcript.schema.json is its structure.
 * Clients that open a WebSocket data channel (`ws` steps, format 2) are replayed over WebSocket.
 *
 * @module cwa-gateway/testing
 */
export { Bindings, compareEvents, compareNode, matchTemplate, Mismatch, parseXml } from './match.js';
export {
  checkTranscriptSchema,
  loadTranscript,
  parseTranscript,
  TRANSCRIPT_FORMAT,
  WEBSOCKET_FORMAT,
  defaultWsUrl,
  TranscriptError,
  transcriptFiles,
  usesManualClock,
  type Expectation,
  type LogonAction,
  type PollAction,
  type ReceiveAction,
  type WsAction,
  type AckAction,
  type CloseAction,
  type Step,
  type Transcript,
} from './transcript.js';
export {
  demoCredentials,
  replayTranscript,
  type Credentials,
  type Difference,
  type RecordedAnswer,
  type ReplayTarget,
  type StepResult,
  type TranscriptResult,
} from './replay.js';
export { loadCredentials, replay, replayOne, serverFlags, type ReplayOptions, type ReplayReport } from './run.js';
export { junit, tap, describeFailure, type ReporterName } from './report.js';
export { startEmbeddedGateway, type EmbeddedGateway, type EmbeddedGatewayOptions } from './gateway.js';
export { record, type Recorder, type RecordOptions } from './record.js';
export { TranscriptBuilder, type Exchange, type TranscriptDocument } from './record-transcript.js';
export { ManualClock, type Clock } from '../engine/clock.js';
export type { XmlDocumentFacts, XNode } from '../protocol/xml-tree.js';
