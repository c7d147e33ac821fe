import { describe, expect, it } from "vitest";
import { metricLabel } from "@/components/leaderboard/LeaderboardsView";

describe("metric labels", () => {
  it("use the rules' names when the summary gives them", () => {
    expect(metricLabel("prs_merged", { prs_merged: "Pull requests merged" })).toBe("Pull requests merged");
  });

  it("fall back to the id made readable", () => {
    expect(metricLabel("prs_merged", { commits: "Commits" })).toBe("Prs merged");
    expect(metricLabel("focus-minutes")).toBe("Focus minutes");
  });
});
