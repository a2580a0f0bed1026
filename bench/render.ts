// node dist/bench/render.js [--seconds S] [--users N]
// What the event layout (--xml-layout) costs: userPresence events rendered in the
// original layout and in the compact one, each event a fresh object (as the engine makes
// one per change) over fresh views, so no cache answers; plus the cwaEvents envelope of a
// poll answer. Prints events/s, bytes per event and the ratio.
import { toRecord } from '../src/protocol/events.js';
import type { XmlLayout } from '../src/protocol/layout.js';
import { renderEvents } from '../src/protocol/responses.js';
import type { CategoryView, PresenceUserView } from '../src/engine/user-data-types.js';
import type { CwaEvent } from '../src/engine/types.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const SECONDS = Number(arg('--seconds', '2'));
const USERS = Number(arg('--users', '1'));

const NOTE_NS = 'http://schemas.microsoft.com/2006/09/sip/note';

/** The categories a watcher at the Company level sees of a signed-in user. */
function categories(i: number): CategoryView[] {
  return [
    { name: 'state', instance: 0, version: i, publishTime: '2024-05-01T09:00:00Z', payload: { type: 'aggregateState', availability: 3500, activity: 'available' } },
    {
      name: 'note', instance: 0, version: 1, publishTime: '2024-05-01T09:00:00Z',
      payload: { type: 'xml', xml: { name: 'note', ns: NOTE_NS, attrs: {}, text: '', children: [{ name: 'body', ns: NOTE_NS, attrs: { type: 'personal' }, children: [], text: `In the office today ${i}` }] } },
    },
    { name: 'calendarData', instance: 0 },
    {
      name: 'contactCard', instance: 0, version: 1,
      payload: { type: 'contactCard', displayName: `User ${i}`, email: `user${i}@example.com`, title: 'Engineer', office: 'B/1', phones: [{ type: 'work', uri: 'tel:+14255550100', displayString: '+1 (425) 555-0100' }] },
    },
    { name: 'services', instance: 0, version: 1, payload: { type: 'services', uri: `sip:user${i}@example.com`, availability: 3500 } },
  ];
}

function event(i: number): CwaEvent {
  const users: PresenceUserView[] = [];
  for (let u = 0; u < USERS; u++) users.push({ uri: `sip:user${i}.${u}@example.com`, sourceNetwork: 'sameEnterprise', categories: categories(i) });
  return { kind: 'userPresence', users } as CwaEvent;
}

function measure(layout: XmlLayout): { perSecond: number; bytes: number } {
  let n = 0;
  let bytes = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 200; k++) {
      const r = toRecord(event(n), layout);
      const doc = renderEvents({ sid: 1, ackId: n, pollWaitTime: 1000, sessionTimeout: 600 }, [r.head + n + r.tail], layout);
      bytes = doc.length;
      n += 1;
    }
  }
  return { perSecond: n / SECONDS, bytes };
}

// Warm up both paths, then alternate runs so drift hits both alike.
measure('compact');
measure('original');
const runs: Record<XmlLayout, number[]> = { compact: [], original: [] };
let size: Record<XmlLayout, number> = { compact: 0, original: 0 };
for (let i = 0; i < 3; i++) {
  for (const layout of ['compact', 'original'] as const) {
    const m = measure(layout);
    runs[layout].push(m.perSecond);
    size = { ...size, [layout]: m.bytes };
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const compact = median(runs.compact);
const original = median(runs.original);
console.log(`| layout | userPresence events/s (${USERS} user(s), 5 categories, rendered + enveloped) | bytes per poll answer |`);
console.log('|---|---|---|');
console.log(`| compact | ${Math.round(compact).toLocaleString('en')} | ${size.compact} |`);
console.log(`| original | ${Math.round(original).toLocaleString('en')} | ${size.original} |`);
console.log(`original/compact: ${(original / compact).toFixed(2)} of the rate, ${(size.original / size.compact).toFixed(2)} x the bytes`);
console.log(JSON.stringify({ users: USERS, seconds: SECONDS, runs, bytes: size }));
