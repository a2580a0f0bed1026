// A UCWA event in the session's event log: rendered once, in both representations, at
// the moment it is queued; the event channel (transport/ucwa/events.ts) groups stored
// events by sender and wraps them in a JSON or XML page per request. The log numbers
// records (eid) as it does for CWA; a stored UCWA record reads
// `<eid>\x01<sender rel>\x01<sender href>\x01<json>\x01<xml>`. JSON escapes control
// characters and the XML writer drops them, so \x01 never occurs inside.
import type { EventRecord } from '../../delivery/event-log.js';
import { eventJson, eventXml, type RenderedEvent, type UcwaEvent } from './resource.js';

const SEP = '\u0001';

export function ucwaRecord(e: UcwaEvent): EventRecord {
  return { head: '', tail: SEP + [e.sender.rel, e.sender.href, JSON.stringify(eventJson(e)), eventXml(e)].join(SEP) };
}

/** The terminal record of an application's log (the session ended): `<eid>\x01\x01<reason>`. */
export function ucwaTerminal(reason: string): EventRecord {
  return { head: '', tail: `${SEP}${SEP}${reason}` };
}

/** A stored record: an event, or the end of the log (any record not in the UCWA form, e.g. the overflow record, ends it too). */
export function readRecord(stored: string): RenderedEvent | { terminal: string } {
  const at = stored.indexOf(SEP);
  if (at < 0) return { terminal: 'eventLogOverflow' };
  const parts = stored.slice(at + 1).split(SEP);
  if (parts.length < 4) return { terminal: parts[1] ?? 'ended' };
  return { senderRel: parts[0]!, senderHref: parts[1]!, json: parts[2]!, xml: parts[3]! };
}
