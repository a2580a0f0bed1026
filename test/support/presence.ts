// Helpers for the contacts, presence, access-control and search suites: reading the
// events a legacy client gets, by name and by category.
import { expect } from 'chai';
import type { XNode } from '../../src/protocol/xml-tree.js';
import type { LegacyClient } from './client.js';

export const BURST = ['configuration', 'selfPresence', 'contactGroup', 'subscribers', 'selfRawCategories', 'containers'];

export function named(events: XNode[], name: string): XNode[] {
  return events.filter((e) => e.name === name);
}

export function only(events: XNode[], name: string): XNode {
  const found = named(events, name);
  expect(found, `${name} among ${events.map((e) => e.name).join(', ')}`).to.have.length(1);
  return found[0]!;
}

export function kids(n: XNode, name: string): XNode[] {
  return n.children.filter((c) => c.name === name);
}

/** Signs in and reads the initial burst. */
export async function signedIn(client: LegacyClient, initiate?: string): Promise<XNode[]> {
  if (initiate === undefined) await client.signIn();
  else {
    await client.logon();
    const reply = await client.command(initiate, 0);
    client.sid = Number(reply.root.children[0]!.children.find((c) => c.name === 'sid')!.text);
  }
  const { events } = await client.poll(0);
  return events;
}

/** Posts `inner`, expects every request answered requestAccepted, and polls until every rid is settled. */
export async function run(client: LegacyClient, inner: string, settle = true): Promise<XNode[]> {
  const reply = await client.command(inner);
  for (const r of reply.root.children) expect(r.name, reply.body).to.equal('requestAccepted');
  if (!settle) return [];
  const rids = new Set(reply.root.children.map((r) => r.attrs.rid));
  const seen: XNode[] = [];
  for (let i = 0; i < 10 && rids.size > 0; i++) {
    const { events } = await client.poll();
    seen.push(...events);
    for (const e of events) if (e.name === 'requestSucceeded' || e.name === 'requestFailed') rids.delete(e.attrs.rid);
  }
  expect([...rids], 'unsettled rids').to.deep.equal([]);
  // Events queued right after the settlement come in the same batch; one more poll picks up stragglers.
  return seen;
}

/** The availability of `uri` in a userPresence (or selfPresence when uri is undefined). */
export function availability(event: XNode, uri?: string): number | undefined {
  const holder = uri === undefined ? event : kids(event, 'user').find((u) => u.attrs.uri === uri);
  const state = holder && kids(holder, 'cwaCategory').find((c) => c.attrs.name === 'state');
  const av = state?.children[0]?.children.find((c) => c.name === 'availability');
  return av ? Number(av.text) : undefined;
}

export function presenceUser(events: XNode[], uri: string): XNode | undefined {
  const all = named(events, 'userPresence').flatMap((e) => kids(e, 'user')).filter((u) => u.attrs.uri === uri);
  return all[all.length - 1];
}

export function categoryNames(user: XNode): string[] {
  return kids(user, 'cwaCategory').map((c) => c.attrs.name!);
}

/** Text of every element under `n` named `name` (depth-first). */
export function textsOf(n: XNode, name: string): string[] {
  const out: string[] = [];
  const walk = (x: XNode) => {
    if (x.name === name) out.push(x.text);
    x.children.forEach(walk);
  };
  walk(n);
  return out;
}
