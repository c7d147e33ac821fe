import { describe, expect, it } from "vitest";
import {
  barScale,
  barWidth,
  isFinished,
  justFinished,
  leaderLine,
  leaders,
  raceLanes,
  topContributions,
  winnerNames,
} from "@/lib/challenge";
import type { ChallengeDoc, ChallengeTeam } from "@/protocol/documents";

function team(name: string, score: number, rank: number | null, extra: Partial<ChallengeTeam> = {}): ChallengeTeam {
  return {
    name,
    score,
    rank,
    eligible: true,
    member_count: 2,
    members: {},
    pace_per_hour: 10,
    projection: score * 2,
    progress: null,
    reached_goal_at_ms: null,
    ...extra,
  };
}

function challenge(teams: Record<string, ChallengeTeam>, extra: Partial<ChallengeDoc> = {}): ChallengeDoc {
  return {
    id: "sprint",
    name: "Sprint",
    description: "",
    mode: "highest",
    scoring: "sum",
    metrics: ["reviews_done"],
    goal: null,
    timezone: "UTC",
    starts_at_ms: 0,
    ends_at_ms: 1000,
    closes_at_ms: 2000,
    state: "live",
    teams,
    combined: null,
    results: null,
    ...extra,
  };
}

describe("bar widths", () => {
  it("scale to the leader without a goal", () => {
    expect(barScale([50, 200, 100], null)).toBe(200);
    const lanes = raceLanes(challenge({ a: team("A", 200, 1), b: team("B", 50, 2) }));
    expect(lanes.map((l) => l.width)).toEqual([1, 0.25]);
    // The projection marker is clamped to the track.
    expect(lanes[0]?.projectionWidth).toBe(1);
    expect(lanes[1]?.projectionWidth).toBe(0.5);
  });

  it("scale to the goal when there is one (the leader's bar is not full before the goal)", () => {
    expect(barScale([50, 200], 400)).toBe(400);
    const lanes = raceLanes(challenge({ a: team("A", 200, 1), b: team("B", 50, 2) }, { mode: "first_to_goal", goal: 400 }));
    expect(lanes.map((l) => l.width)).toEqual([0.5, 0.125]);
  });

  it("never exceed the track nor divide by zero", () => {
    expect(barWidth(500, 400)).toBe(1);
    expect(barWidth(-3, 400)).toBe(0);
    expect(barScale([0, 0], null)).toBe(1);
    expect(raceLanes(challenge({ a: team("A", 0, 1), b: team("B", 0, 1) })).map((l) => l.width)).toEqual([0, 0]);
  });
});

describe("order, leader and contributions", () => {
  it("sorts lanes by rank, ineligible teams last", () => {
    const lanes = raceLanes(
      challenge({
        x: team("X", 999, null, { eligible: false }),
        b: team("B", 10, 2),
        a: team("A", 20, 1),
      }),
    );
    expect(lanes.map((l) => l.slug)).toEqual(["a", "b", "x"]);
  });

  it("names the leader, or the tied leaders", () => {
    expect(leaderLine(challenge({ a: team("Alpha", 20, 1), b: team("Beta", 10, 2) }))).toBe("Alpha leads with 20");
    const tie = challenge({ a: team("Alpha", 20, 1), b: team("Beta", 20, 1), c: team("Gamma", 5, 3) });
    expect(leaders(tie).map((l) => l.slug)).toEqual(["a", "b"]);
    expect(leaderLine(tie)).toBe("Alpha and Beta tied for the lead with 20");
    expect(leaderLine(challenge({ a: team("A", 0, 1), b: team("B", 0, 1) }))).toBe("No points yet");
    expect(leaderLine(challenge({ a: team("Alpha", 20, 1) }, { state: "finished" }))).toBe("Alpha won with 20");
  });

  it("describes cooperative progress", () => {
    const coop = challenge({ a: team("A", 30, null) }, {
      mode: "cooperative",
      goal: 100,
      combined: { score: 30, goal: 100, progress: 0.3, achieved: false },
    });
    expect(leaderLine(coop)).toBe("Together: 30% of the goal");
  });

  it("sorts members by contribution", () => {
    const t = team("A", 30, 1, {
      members: {
        u1: { contribution: 5, display_name: "Zoe" },
        u2: { contribution: 20, display_name: "Ana" },
        u3: { contribution: 5, display_name: "Bo" },
      },
    });
    expect(topContributions(t).map((c) => c.display_name)).toEqual(["Ana", "Bo", "Zoe"]);
    expect(topContributions(t, 1)).toHaveLength(1);
  });
});

describe("finish detection", () => {
  it("celebrates only a transition to finished", () => {
    const live = challenge({ a: team("A", 1, 1) });
    const done = { ...live, state: "finished" as const };
    expect(justFinished(live, done)).toBe(true);
    expect(justFinished(null, done)).toBe(false);
    expect(justFinished(done, done)).toBe(false);
    expect(justFinished(live, { ...done, id: "other" })).toBe(false);
    expect(isFinished(done)).toBe(true);
    expect(isFinished(live)).toBe(false);
  });

  it("maps winners to names", () => {
    const doc = challenge({ a: team("Alpha", 1, 1) });
    expect(winnerNames({ ranks: {}, winners: ["a", "gone"], rewards: [], achieved: null }, doc)).toEqual(["Alpha", "gone"]);
  });
});
