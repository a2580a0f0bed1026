// One listener per session, across the nodes of a cluster: a poll or WebSocket that
// attaches on one node is announced on pub/sub, and the session's listener on another
// node gives way (see delivery/attachments.ts).
//
// Pub/sub channels are global to a Redis server: database numbers do not apply to them,
// so two clusters on two databases of one Redis (staging on /1, production on /0) with
// the same prefix would hear each other's notices, and session ids overlap (they start
// at 1 in every cluster). The channel is therefore named after the cluster's id
// (`<prefix>cluster-id`, drawn by the first node and kept in Redis), not only the prefix.
import type { Redis } from 'ioredis';

export type AttachKind = 'poll' | 'websocket';

export interface AttachNoticesOptions {
  /** Connection the notices are published on. */
  publisher: Redis;
  /** A connection of its own, subscribed to the cluster's channel. */
  subscriber: Redis;
  nodeId: string;
  /** A session's listener attached on another node of this cluster. */
  onAttachedElsewhere?: (sid: number, kind: AttachKind) => void;
}

/** The channel of a cluster's attach notices. */
export function attachChannel(prefix: string, clusterId: string): string {
  return `${prefix}${clusterId}:attach`;
}

export class AttachNotices {
  /** The channel of the cluster this node follows (undefined until it joined one). */
  private channel: string | undefined;
  /** The channel the subscriber connection was last subscribed to. */
  private subscribed: string | undefined;
  /** sid -> node that announced the session's latest listener. */
  private readonly lastAttach = new Map<number, string>();
  private started = false;

  constructor(private readonly opts: AttachNoticesOptions) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    const { subscriber } = this.opts;
    subscriber.on('message', (channel: string, message: string) => {
      // A message of a channel this node has left (it moved to another cluster id) is not ours.
      if (channel === this.channel) this.onNotice(message);
    });
    // Subscribed whenever the connection is (again) ready; commands fail fast before that.
    subscriber.on('ready', () => this.subscribe());
  }

  /** Listens to `channel` from now on (at join, and when the cluster's id changed). */
  listenOn(channel: string): void {
    if (channel === this.channel) return;
    this.channel = channel;
    this.lastAttach.clear();
    this.subscribe();
  }

  get current(): string | undefined {
    return this.channel;
  }

  /** (Re)subscribes to the cluster's channel, leaving the one subscribed before, if another. */
  private subscribe(): void {
    const { subscriber } = this.opts;
    const channel = this.channel;
    if (!channel || subscriber.status !== 'ready') return;
    if (this.subscribed !== undefined && this.subscribed !== channel) subscriber.unsubscribe(this.subscribed).catch(() => undefined);
    this.subscribed = channel;
    subscriber.subscribe(channel).catch(() => undefined); // the next 'ready' tries again
  }

  /**
   * A poll or WebSocket of `sid` attached on this node: the other nodes' listeners of the
   * session give way. Announced only when the latest listener known was on another node, so
   * a client that keeps polling one node costs nothing. (Pub/sub: a notice lost while a
   * node reconnects leaves an older listener until its hold ends, as before this rule.)
   */
  announce(sid: number, kind: AttachKind): void {
    const { nodeId, publisher } = this.opts;
    if (!this.channel || this.lastAttach.get(sid) === nodeId) return;
    this.remember(sid, nodeId);
    publisher.publish(this.channel, `${nodeId} ${sid} ${kind}`).catch(() => undefined);
  }

  private onNotice(message: string): void {
    const [node, sidText, kind] = message.split(' ');
    const sid = Number(sidText);
    if (!node || !Number.isInteger(sid) || node === this.opts.nodeId) return;
    this.remember(sid, node);
    this.opts.onAttachedElsewhere?.(sid, kind === 'websocket' ? 'websocket' : 'poll');
  }

  private remember(sid: number, node: string): void {
    this.lastAttach.delete(sid);
    this.lastAttach.set(sid, node);
    if (this.lastAttach.size > 100_000) this.lastAttach.delete(this.lastAttach.keys().next().value!);
  }

  stop(): void {
    this.opts.subscriber.disconnect();
  }
}
