// The synchronous answers (cwaResponses) and the data-channel envelope (cwaEvents).
import type { ResponseItem } from '../engine/types.js';
import type { CwaError } from './cwa-errors.js';
import { cwaErrorOf } from './cwa-outcomes.js';
import { reasonOf } from '../engine/outcomes.js';
import { renderError } from './events.js';
import { layoutEnvelopeContent, type XmlLayout } from './layout.js';
import { attrs, element, textElement } from './xml.js';

export function renderResponseItem(item: ResponseItem): string {
  switch (item.type) {
    case 'requestAccepted':
      return element(
        'requestAccepted',
        { rid: item.rid },
        item.session
          ? textElement('sid', String(item.session.sid)) +
              textElement('uri', item.session.uri) +
              textElement('pollWaitTime', String(item.session.pollWaitTime))
          : '',
      );
    case 'initiateImSessionAccepted':
      return element('initiateImSessionAccepted', { rid: item.rid, confId: item.confId });
    case 'requestFailed':
      return element('requestFailed', { rid: item.rid }, renderError(cwaErrorOf(item.error)));
    case 'requestInvalid':
      return element('requestInvalid', { rid: item.rid }, renderError(cwaErrorOf(item.error)));
    case 'logonSucceeded':
      // The reference's logon result: requestSucceeded with eid 0 and an empty rid.
      return element('requestSucceeded', { eid: 0, rid: '' }, textElement('uri', item.uri) + textElement('signInData', item.signInData));
  }
}

/** The CWA door's rendering of a batch's typed answer (what the command channel sends, and the rid cache keeps). */
export function renderBatchAnswer(a: { answers: ResponseItem[]; processed: number; unexpected: number }): { status: number; body: string; refusals?: string[] } {
  let refusals: string[] | undefined;
  for (const item of a.answers) if (item.type === 'requestFailed' || item.type === 'requestInvalid') (refusals ??= []).push(reasonOf(item.error));
  // No empty array when nothing was refused: the answer is kept in the duplicate-batch cache for the session's life.
  const body = renderResponses(a.answers, a.processed, a.unexpected);
  return refusals ? { status: 200, body, refusals } : { status: 200, body };
}

export function renderResponses(items: ResponseItem[], requestProcessed: number, unexpectedElement: number): string {
  let inner = '';
  for (const item of items) inner += renderResponseItem(item);
  const head = `<cwaResponses requestProcessed="${requestProcessed}" unexpectedElement="${unexpectedElement}"`;
  return inner === '' ? `${head}/>` : `${head}>${inner}</cwaResponses>`;
}

/** A document-level error (bad XML, no ticket, unknown session …). */
export function renderErrorResponse(error: CwaError): string {
  return `<cwaResponses${attrs({ requestProcessed: 0, unexpectedElement: 0 })}>${renderError(error)}</cwaResponses>`;
}

export interface EventsEnvelope {
  sid: number;
  ackId: number;
  pollWaitTime: number;
  sessionTimeout?: number;
}

/** `events` are already-rendered event elements, in the gateway's `layout`. */
export function renderEvents(env: EventsEnvelope, events: string[], layout: XmlLayout = 'compact'): string {
  // Every attribute is a number: nothing to escape (written out, as every poll answer and frame has them).
  const timeout = env.sessionTimeout === undefined ? '' : ` sessionTimeout="${env.sessionTimeout}"`;
  const head = `<cwaEvents sid="${env.sid}" ackId="${env.ackId}" pollWaitTime="${env.pollWaitTime}"${timeout}`;
  return events.length === 0 ? `${head}/>` : `${head}>${layoutEnvelopeContent(layout, events)}</cwaEvents>`;
}

/** The answer to a sign-out everywhere: requestSucceeded, as the logon's, without its children. */
export function renderSignedOut(): string {
  return element('cwaResponses', { requestProcessed: 1, unexpectedElement: 0 }, element('requestSucceeded', { eid: 0, rid: '' }));
}
