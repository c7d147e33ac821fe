import { describe, expect, it } from "vitest";
import { changedKeys, competitionRanks, isInTop, rankTeams, type TeamStanding } from "@/lib/ranking";
import type { TeamDoc } from "@/protocol/documents";

function doc(slug: string, weekly: number, xp: number, extra: Partial<TeamDoc> = {}): TeamDoc {
  return {
    slug,
    name: slug.toUpperCase(),
    description: "",
    archived: false,
    members: {},
    totals: { members: 3, xp, weekly_xp: weekly },
    ...extra,
  };
}

const standings: TeamStanding[] = [
  { rank: 1, slug: "platform", name: "Platform", members: 3, score: 300 },
  { rank: 2, slug: "web", name: "Web", members: 3, score: 200 },
  { rank: 3, slug: "ops", name: "Ops", members: 2, score: 100 },
];

describe("competitionRanks", () => {
  it("gives ties the same rank and skips the next", () => {
    expect(competitionRanks([9, 7, 7, 3])).toEqual([1, 2, 2, 4]);
    expect(competitionRanks([5, 5, 5])).toEqual([1, 1, 1]);
    expect(competitionRanks([5, 4, 4, 4, 1])).toEqual([1, 2, 2, 2, 5]);
    expect(competitionRanks([])).toEqual([]);
  });
});

describe("rankTeams", () => {
  it("keeps the HTTP standings when no live doc is known", () => {
    expect(rankTeams(standings, {}, "weekly")).toEqual(standings);
  });

  it("re-ranks by the live weekly totals", () => {
    const ranked = rankTeams(standings, { ops: doc("ops", 450, 900) }, "weekly");
    expect(ranked.map((s) => [s.slug, s.rank, s.score])).toEqual([
      ["ops", 1, 450],
      ["platform", 2, 300],
      ["web", 3, 200],
    ]);
    expect(ranked[0]?.name).toBe("OPS");
  });

  it("uses all-time xp for the all_time period", () => {
    const ranked = rankTeams(standings, { web: doc("web", 0, 5000) }, "all_time");
    expect(ranked[0]?.slug).toBe("web");
    expect(ranked[0]?.score).toBe(5000);
  });

  it("ties share a rank, listed by slug, and the next rank skips", () => {
    const ranked = rankTeams(standings, { web: doc("web", 300, 0), ops: doc("ops", 50, 0) }, "weekly");
    expect(ranked.map((s) => [s.slug, s.rank])).toEqual([
      ["platform", 1],
      ["web", 1],
      ["ops", 3],
    ]);
  });

  it("drops teams archived since", () => {
    const ranked = rankTeams(standings, { platform: doc("platform", 999, 999, { archived: true }) }, "weekly");
    expect(ranked.map((s) => [s.slug, s.rank])).toEqual([
      ["web", 1],
      ["ops", 2],
    ]);
  });
});

describe("changedKeys / isInTop", () => {
  it("reports rows whose score or rank moved, not new ones", () => {
    const before = [
      { member: "a", score: 10, rank: 1 },
      { member: "b", score: 5, rank: 2 },
    ];
    const after = [
      { member: "b", score: 12, rank: 1 },
      { member: "a", score: 10, rank: 2 },
      { member: "c", score: 1, rank: 3 },
    ];
    const changed = changedKeys(before, after, (r) => r.member, (r) => `${r.score}/${r.rank}`);
    expect([...changed].sort()).toEqual(["a", "b"]);
  });

  it("finds the viewer in the visible rows only", () => {
    const rows = [{ member: "a" }, { member: "b" }, { member: "c" }];
    expect(isInTop(rows, "b", 2)).toBe(true);
    expect(isInTop(rows, "c", 2)).toBe(false);
    expect(isInTop(rows, undefined, 2)).toBe(false);
  });
});
