// A client's copy of one topic's state (PROTOCOL.md §10, §12). The mirror holds the document at some
// (epoch, offset) and applies a delta only if it is the next one: same epoch, offset == last + 1. Anything
// else is reported, never applied, so the document is always exactly the server's state at `offset`: it
// can lag, never diverge silently.
//   duplicate: offset <= last (same epoch): already in the document; ignore it;
//   gap: a later offset, another epoch, or no state yet: resubscribe with `since()` (unless one is
//        outstanding) and let the reply repair it;
//   diverged: the next delta does not apply to this document: resubscribe *without* since.
import type { Batch, DeltaBody, Since, Subscribed } from "./messages";
import { applyOps, OpError, type Document } from "./ops";

export const Outcome = {
  APPLIED: "applied",
  DUPLICATE: "duplicate",
  GAP: "gap",
  DIVERGED: "diverged",
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export class TopicMirror {
  epoch: string | null = null;
  offset: number | null = null;
  /** The state at `offset`; treat as read-only (deltas are applied to a copy). */
  document: Document | null = null;
  /** The last delta did not apply: resubscribe without `since`. */
  diverged = false;

  constructor(readonly topic: string) {}

  /** Whether the mirror holds a state (it may still lag behind the server). */
  get synced(): boolean {
    return this.document !== null;
  }

  /** What to resubscribe with: where the mirror stands, or undefined for a fresh snapshot (no state yet,
   * or diverged: resuming would bring back the delta that did not apply). */
  since(): Since | undefined {
    if (this.epoch === null || this.offset === null || this.diverged) return undefined;
    return { epoch: this.epoch, offset: this.offset };
  }

  /** Forget the state (after `unsubscribed`). */
  reset(): void {
    this.epoch = null;
    this.offset = null;
    this.document = null;
    this.diverged = false;
  }

  applySnapshot(epoch: string, offset: number, snapshot: Document): void {
    this.epoch = epoch;
    this.offset = offset;
    this.document = snapshot;
    this.diverged = false;
  }

  applyDelta(delta: DeltaBody): Outcome {
    if (delta.topic !== this.topic) throw new Error(`a delta of ${delta.topic} given to the mirror of ${this.topic}`);
    if (this.document === null || this.offset === null || delta.epoch !== this.epoch) return Outcome.GAP;
    if (delta.offset <= this.offset) return Outcome.DUPLICATE;
    if (delta.offset > this.offset + 1) return Outcome.GAP;
    try {
      this.document = applyOps(this.document, delta.ops);
    } catch (error) {
      if (!(error instanceof OpError)) throw error;
      this.diverged = true;
      return Outcome.DIVERGED;
    }
    this.offset = delta.offset;
    return Outcome.APPLIED;
  }

  /** A `subscribed` for this topic (a reply, or the server resetting the stream). */
  applySubscribed(message: Subscribed): Outcome {
    if (message.topic !== this.topic) {
      throw new Error(`a subscription to ${message.topic} given to the mirror of ${this.topic}`);
    }
    if (!message.recovered) {
      this.applySnapshot(message.epoch, message.offset, message.snapshot ?? {});
      return Outcome.APPLIED;
    }
    for (const delta of message.deltas ?? []) {
      const outcome = this.applyDelta(delta);
      if (outcome === Outcome.GAP || outcome === Outcome.DIVERGED) return outcome;
    }
    if (this.epoch !== message.epoch || this.offset === null || this.offset < message.offset) {
      return Outcome.GAP; // the recovery did not start where this mirror stands
    }
    return Outcome.APPLIED;
  }

  /** This topic's deltas of a batch (the others are left to their mirrors), in order. */
  applyBatch(batch: Batch): Outcome[] {
    return batch.deltas.filter((delta) => delta.topic === this.topic).map((delta) => this.applyDelta(delta));
  }
}
