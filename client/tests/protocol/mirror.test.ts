import { describe, expect, it } from "vitest";
import type { DeltaBody, Subscribed } from "@/protocol/messages";
import { Outcome, TopicMirror } from "@/protocol/mirror";
import { parseOp } from "@/protocol/ops";

const TOPIC = "team:platform";

const snapshot = (offset = 5, epoch = "e1"): Subscribed => ({
  type: "subscribed",
  topic: TOPIC,
  epoch,
  offset,
  recovered: false,
  snapshot: { xp: 100, members: {} },
});

const delta = (offset: number, xp: number, epoch = "e1"): DeltaBody => ({
  topic: TOPIC,
  epoch,
  offset,
  ops: [parseOp(["set", ["xp"], xp])],
  at_ms: 0,
});

function synced(): TopicMirror {
  const mirror = new TopicMirror(TOPIC);
  expect(mirror.applySubscribed(snapshot())).toBe(Outcome.APPLIED);
  return mirror;
}

describe("TopicMirror", () => {
  it("starts empty: any delta is a gap, and since() is undefined", () => {
    const mirror = new TopicMirror(TOPIC);
    expect(mirror.synced).toBe(false);
    expect(mirror.since()).toBeUndefined();
    expect(mirror.applyDelta(delta(1, 1))).toBe(Outcome.GAP);
  });

  it("applies the next delta and moves its offset", () => {
    const mirror = synced();
    expect(mirror.applyDelta(delta(6, 110))).toBe(Outcome.APPLIED);
    expect(mirror.document).toEqual({ xp: 110, members: {} });
    expect(mirror.since()).toEqual({ epoch: "e1", offset: 6 });
  });

  it("ignores duplicates", () => {
    const mirror = synced();
    mirror.applyDelta(delta(6, 110));
    const before = mirror.document;
    expect(mirror.applyDelta(delta(6, 999))).toBe(Outcome.DUPLICATE);
    expect(mirror.applyDelta(delta(3, 999))).toBe(Outcome.DUPLICATE);
    expect(mirror.document).toBe(before);
  });

  it("reports a gap by offset without applying", () => {
    const mirror = synced();
    expect(mirror.applyDelta(delta(7, 120))).toBe(Outcome.GAP);
    expect(mirror.offset).toBe(5);
    expect(mirror.document).toEqual({ xp: 100, members: {} });
  });

  it("reports a gap by epoch", () => {
    const mirror = synced();
    expect(mirror.applyDelta(delta(6, 120, "e2"))).toBe(Outcome.GAP);
    expect(mirror.offset).toBe(5);
  });

  it("diverges on a delta that does not apply, keeping the document, and resubscribes without since", () => {
    const mirror = synced();
    const before = mirror.document;
    const bad: DeltaBody = { topic: TOPIC, epoch: "e1", offset: 6, ops: [parseOp(["set", ["nope", "x"], 1])], at_ms: 0 };
    expect(mirror.applyDelta(bad)).toBe(Outcome.DIVERGED);
    expect(mirror.document).toBe(before);
    expect(mirror.offset).toBe(5);
    expect(mirror.since()).toBeUndefined();
    // a fresh snapshot clears it
    mirror.applySubscribed(snapshot(9));
    expect(mirror.diverged).toBe(false);
    expect(mirror.since()).toEqual({ epoch: "e1", offset: 9 });
  });

  it("recovers from a recovered subscribed with the missed deltas", () => {
    const mirror = synced();
    const recovered: Subscribed = {
      type: "subscribed",
      topic: TOPIC,
      epoch: "e1",
      offset: 7,
      recovered: true,
      deltas: [delta(6, 110), delta(7, 120)],
    };
    expect(mirror.applySubscribed(recovered)).toBe(Outcome.APPLIED);
    expect(mirror.offset).toBe(7);
    expect(mirror.document?.xp).toBe(120);
    // the same recovery again: only duplicates, still applied and unchanged
    expect(mirror.applySubscribed(recovered)).toBe(Outcome.APPLIED);
    expect(mirror.document?.xp).toBe(120);
  });

  it("a recovery that does not start where the mirror stands is a gap", () => {
    const mirror = synced();
    const recovered: Subscribed = { type: "subscribed", topic: TOPIC, epoch: "e1", offset: 8, recovered: true, deltas: [delta(8, 130)] };
    expect(mirror.applySubscribed(recovered)).toBe(Outcome.GAP);
    const empty = new TopicMirror(TOPIC);
    expect(empty.applySubscribed({ ...recovered, offset: 3, deltas: [] })).toBe(Outcome.GAP);
  });

  it("applies only its own topic's deltas of a batch", () => {
    const mirror = synced();
    const other: DeltaBody = { ...delta(1, 1), topic: "team:other" };
    expect(mirror.applyBatch({ type: "batch", deltas: [other, delta(6, 110), delta(7, 120)] })).toEqual([
      Outcome.APPLIED,
      Outcome.APPLIED,
    ]);
  });
});
