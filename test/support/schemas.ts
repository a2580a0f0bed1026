// Every document the gateway emits is checked against schemas/ by the tests.
import { expect } from 'chai';
import { DocumentSchema } from '../../src/protocol/schema.js';

let responses: DocumentSchema | undefined;
let events: DocumentSchema | undefined;
let frames: DocumentSchema | undefined;

export function expectValidResponses(xml: string): void {
  responses ??= DocumentSchema.load('cwa-responses.xsd');
  const errors = responses.errors(xml);
  expect(errors, `cwaResponses invalid against cwa-responses.xsd:\n${xml}`).to.deep.equal([]);
}

export function expectValidEvents(xml: string): void {
  events ??= DocumentSchema.load('cwa-events.xsd');
  const errors = events.errors(xml);
  expect(errors, `cwaEvents invalid against cwa-events.xsd:\n${xml}`).to.deep.equal([]);
}

export function expectValidFrame(xml: string): void {
  frames ??= DocumentSchema.load('ws-frames.xsd');
  const errors = frames.errors(xml);
  expect(errors, `frame invalid against ws-frames.xsd:\n${xml}`).to.deep.equal([]);
}

/** Validates a body (or a WebSocket frame) by its root element. */
export function expectValidDocument(xml: string): void {
  if (xml.startsWith('<cwaEvents')) expectValidEvents(xml);
  else if (xml.startsWith('<cwaResponses')) expectValidResponses(xml);
  else if (xml.startsWith('<ack') || xml.startsWith('<ticket')) expectValidFrame(xml);
  else expectValidResponses(xml);
}
