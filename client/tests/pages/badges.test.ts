import { describe, expect, it } from "vitest";
import { badgeTiles, earnedTiles, mergeLedger, type CatalogueEntry } from "@/lib/badges";

const catalogue: CatalogueEntry[] = [
  {
    id: "reviewer",
    hidden: false,
    secret: false,
    name: "Reviewer",
    description: "Code reviews done.",
    repeat: null,
    tiers: [
      { name: "bronze", threshold: 10 },
      { name: "silver", threshold: 50 },
      { name: "gold", threshold: 200 },
    ],
    earned: [
      { key: "reviewer:bronze", tier: "bronze", period: null, earned_at: "2026-11-01T00:00:00Z" },
      { key: "reviewer:silver", tier: "silver", period: null, earned_at: "2026-11-10T00:00:00Z" },
    ],
  },
  { id: "firefighter", hidden: false, secret: false, name: "Firefighter", description: "Incidents.", repeat: null, tiers: [{ name: "bronze", threshold: 1 }], earned: [] },
  { id: "deep", hidden: false, secret: false, name: "Deep worker", description: "Focus.", repeat: null, tiers: null, earned: [] },
  { id: "secret-1", hidden: true, secret: true, name: null, description: null, repeat: null, tiers: null, earned: [] },
];

const earned = [
  { badge_id: "reviewer", name: "Reviewer", tier: "bronze", period: null, earned_at: "2026-11-01T00:00:00Z", explanation: "10 ≥ 10" },
  { badge_id: "reviewer", name: "Reviewer", tier: "silver", period: null, earned_at: "2026-11-10T00:00:00Z", explanation: "52 ≥ 50" },
  { badge_id: "retired", name: "Old one", tier: null, period: null, earned_at: "2026-01-01T00:00:00Z", explanation: "long ago" },
];

describe("badgeTiles", () => {
  it("shows the best earned tier with its explanation and the next tier", () => {
    const [first] = badgeTiles(catalogue, earned);
    expect(first).toMatchObject({ kind: "earned", tier: "silver", explanation: "52 ≥ 50", next: "Next: gold at 200" });
  });

  it("locks unearned badges with what they need, and keeps secrets secret", () => {
    const tiles = badgeTiles(catalogue, earned);
    expect(tiles.map((t) => t.kind)).toEqual(["earned", "locked", "locked", "secret", "earned"]);
    expect(tiles[1]).toMatchObject({ needs: "Needs bronze at 1" });
    expect(tiles[2]).toMatchObject({ needs: "Focus." });
    expect(tiles[3]).toEqual({ kind: "secret", id: "secret-1" });
    expect(tiles[4]).toMatchObject({ id: "retired", name: "Old one" });
  });

  it("groups a public profile's badges by id", () => {
    const tiles = earnedTiles(earned);
    expect(tiles.map((t) => [t.id, t.kind === "earned" ? t.tier : null])).toEqual([
      ["reviewer", "silver"],
      ["retired", null],
    ]);
  });
});

describe("mergeLedger", () => {
  it("keeps newest first without duplicates", () => {
    expect(mergeLedger([{ id: 5 }, { id: 4 }], [{ id: 6 }, { id: 5 }]).map((i) => i.id)).toEqual([6, 5, 4]);
  });
});
