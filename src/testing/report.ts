// Replay reports: spec (for people), TAP and JUnit XML (for CI).
import type { StepResult, TranscriptResult } from './replay.js';

export type ReporterName = 'spec' | 'tap' | 'junit';
export const REPORTERS: readonly ReporterName[] = ['spec', 'tap', 'junit'];

/** `steps[3] (bob poll) "the note"` */
export function stepLabel(s: StepResult): string {
  return `steps[${s.index}] (${s.client ? `${s.client} ` : ''}${s.action})${s.note ? ` "${s.note}"` : ''}`;
}

const indent = (text: string, by: string) => text.split('\n').map((l) => by + l).join('\n');

/** What a failed transcript prints: the difference, then the expected and received documents. */
export function describeFailure(r: TranscriptResult): string {
  if (r.error) return r.error.startsWith(r.file) ? r.error : `${r.file}: ${r.error}`;
  const f = r.steps.find((s) => s.failure)?.failure;
  if (!f) return `${r.file}: failed`;
  const lines = [f.message];
  if (f.expected !== undefined) lines.push(`  expected document:\n${indent(f.expected, '    ')}`);
  if (f.received !== undefined && f.action === 'receive') lines.push(`  received events:\n${indent(f.received || '(none)', '    ')}`);
  return lines.join('\n');
}

export function summary(results: readonly TranscriptResult[]): string {
  const passed = results.filter((r) => r.passed).length;
  const unreadable = results.filter((r) => r.unreadable).length;
  const failed = results.length - passed - unreadable;
  return `${results.length} transcript(s): ${passed} passed, ${failed} failed${unreadable ? `, ${unreadable} unreadable` : ''}`;
}

/** One transcript as the spec reporter prints it, as soon as it finished. */
export function specLine(r: TranscriptResult): string {
  if (r.passed) return `  ok    ${r.file}: ${r.title} (${r.steps.length} steps, ${r.durationMs} ms)\n`;
  return `  FAIL  ${r.file}${r.title ? `: ${r.title}` : ''}\n${indent(describeFailure(r), '        ')}\n`;
}

export function tap(results: readonly TranscriptResult[]): string {
  const out = ['TAP version 13', `1..${results.length}`];
  results.forEach((r, i) => {
    const name = `${r.file}${r.title ? `: ${r.title}` : ''}`.replace(/#/g, '\\#');
    out.push(`${r.passed ? 'ok' : 'not ok'} ${i + 1} - ${name}`);
    if (!r.passed) {
      const failed = r.steps.find((s) => s.failure);
      out.push('  ---');
      if (failed) out.push(`  step: ${JSON.stringify(stepLabel(failed))}`, `  place: ${JSON.stringify(failed.failure!.place)}`);
      out.push('  message: |-', indent(describeFailure(r), '    '), '  ...');
    }
  });
  out.push(`# ${summary(results)}`);
  return `${out.join('\n')}\n`;
}

/** Text for XML content and attributes; characters XML 1.0 cannot carry are dropped. */
export function xmlText(s: string): string {
  return s
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** JUnit XML: a testsuite per transcript file, a testcase per step. */
export function junit(results: readonly TranscriptResult[]): string {
  const total = (f: (r: TranscriptResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const cases = (r: TranscriptResult) => (r.error ? 1 : r.steps.length);
  const failures = (r: TranscriptResult) => (r.error ? 0 : r.steps.filter((s) => s.status === 'failed').length);
  const errors = (r: TranscriptResult) => (r.error ? 1 : 0);
  const skipped = (r: TranscriptResult) => r.steps.filter((s) => s.status === 'skipped').length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="cwa-gateway replay" tests="${total(cases)}" failures="${total(failures)}" errors="${total(errors)}" skipped="${total(skipped)}" time="${seconds(total((r) => r.durationMs))}">`,
  ];
  for (const r of results) {
    out.push(
      `  <testsuite name="${xmlText(r.file)}" tests="${cases(r)}" failures="${failures(r)}" errors="${errors(r)}" skipped="${skipped(r)}" time="${seconds(r.durationMs)}">`,
    );
    if (r.title) out.push(`    <properties><property name="title" value="${xmlText(r.title)}"/></properties>`);
    if (r.error) {
      out.push(`    <testcase classname="${xmlText(r.file)}" name="load" time="0.000">`);
      out.push(`      <error message="${xmlText(r.error.split('\n')[0]!)}" type="${r.unreadable ? 'unreadable' : 'error'}">${xmlText(r.error)}</error>`);
      out.push('    </testcase>');
    }
    for (const s of r.steps) {
      const open = `    <testcase classname="${xmlText(r.file)}" name="${xmlText(stepLabel(s))}" time="${seconds(s.durationMs)}"`;
      if (s.status === 'passed') out.push(`${open}/>`);
      else if (s.status === 'skipped') out.push(`${open}><skipped message="an earlier step failed"/></testcase>`);
      else {
        const f = s.failure!;
        out.push(`${open}>`);
        out.push(`      <failure message="${xmlText(`${f.place ? `${f.place}: ` : ''}${f.detail.split('\n')[0]}`)}" type="mismatch">${xmlText(describeFailure(r))}</failure>`);
        out.push('    </testcase>');
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
