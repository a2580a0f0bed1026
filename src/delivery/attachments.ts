// Who is listening to a session's events right now: one attachment per session, a
// held data-channel poll or a WebSocket. A new attachment supersedes the previous one
// (a held poll is answered at once, a WebSocket is closed with 4001 "superseded"), so
// a session never has two listeners racing for its cursor. The event log, not the
// attachment, holds the events: a superseded listener loses nothing, as whatever it
// had not delivered is still unacknowledged and goes to its successor.
// On a cluster the rule holds across nodes: an attachment announces itself (`onAttach`)
// and a node told of a newer one elsewhere supersedes its own (`supersededElsewhere`).

export type AttachmentKind = 'poll' | 'websocket';

export interface Attachment {
  readonly kind: AttachmentKind;
  /** Called once when another attachment takes over the session. */
  supersede(by: AttachmentKind): void;
}

export class AttachmentRegistry {
  private readonly bySid = new Map<number, Attachment>();
  /** Told of every new attachment (a cluster node tells the others). */
  onAttach: (sid: number, kind: AttachmentKind) => void = () => undefined;

  /** Makes `attachment` the session's listener; the previous one, if any, is superseded. */
  attach(sid: number, attachment: Attachment): void {
    const previous = this.bySid.get(sid);
    this.bySid.set(sid, attachment);
    if (previous && previous !== attachment) previous.supersede(attachment.kind);
    this.onAttach(sid, attachment.kind);
  }

  /** A listener of the session attached on another node: this node's one, if any, gives way. */
  supersededElsewhere(sid: number, by: AttachmentKind): void {
    const previous = this.bySid.get(sid);
    if (!previous) return;
    this.bySid.delete(sid);
    previous.supersede(by);
  }

  /** Forgets `attachment` if it is still the session's listener. */
  detach(sid: number, attachment: Attachment): void {
    if (this.bySid.get(sid) === attachment) this.bySid.delete(sid);
  }

  current(sid: number): Attachment | undefined {
    return this.bySid.get(sid);
  }

  /** Attachments by kind (for metrics and tests). */
  counts(): Record<AttachmentKind, number> {
    const out: Record<AttachmentKind, number> = { poll: 0, websocket: 0 };
    for (const a of this.bySid.values()) out[a.kind] += 1;
    return out;
  }
}
