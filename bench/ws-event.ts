// The event bench/ws.ts pushes: a ~100-character instant message, as the gateway renders it.
import type { CwaEvent } from '../src/engine/types.js';

export const MESSAGE = 'The quarterly numbers are in the shared folder; can you look at slide 7 before the 3 pm call today?';

export const EVENT: CwaEvent = {
  kind: 'conference',
  confId: 1,
  body: { type: 'messageReceived', sender: 'sip:bob@example.com', message: { content: MESSAGE } },
};

const EVENT_XML = `<conference eid="3" confId="1"><messageReceived sender="sip:bob@example.com"><message><content>${MESSAGE}</content></message></messageReceived></conference>`;

/** Bytes of one event inside a frame. */
export const EVENT_BYTES = EVENT_XML.length;

/** What the bare server sends per event: one cwaEvents frame holding the same event. */
export const BARE_FRAME = `<cwaEvents sid="1" ackId="3" pollWaitTime="1000" sessionTimeout="600">${EVENT_XML}</cwaEvents>`;
