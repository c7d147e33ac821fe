import { describe, expect, it } from "vitest";
import type { Moment } from "@/lib/awards";
import { addToBurst, BURST_WINDOW_MS, burstToast } from "@/lib/bursts";
import { withFloater, FLOATER_MERGE_MS, type Floater } from "@/stores/awards";
import type { XpAward } from "@/lib/awards";

const xp = (amount: number, text: string, ruleId = `metrics.${text}`): Moment => ({
  kind: "xp",
  icon: "✨",
  text,
  xp: amount,
  ruleId,
  ruleVersion: 3,
  explanation: `${text}: arithmetic`,
});
const badge: Moment = { kind: "badge", icon: "🏅", text: "Badge: Reviewer (gold)", xp: 0, ruleId: "badges.reviewer", ruleVersion: 3, explanation: "reviews_done total 200 ≥ 200" };

describe("award bursts: one toast per moment", () => {
  it("shows one award as its XP over its words, the arithmetic only as a detail", () => {
    const toast = burstToast(addToBurst(null, xp(25, "Merged a pull request", "metrics.prs_merged"), 0));
    expect(toast).toMatchObject({ title: "+25 XP", body: "Merged a pull request", tone: "xp" });
    expect(toast.detail).toBe("Merged a pull request: arithmetic · metrics.prs_merged · v3");
    expect(toast.items).toBeUndefined();
  });

  it("merges a burst into one toast: the total, the count, the list on expand", () => {
    let burst = addToBurst(null, xp(200, "Merged 8 pull requests"), 0);
    burst = addToBurst(burst, xp(150, "Did 15 code reviews"), 5);
    burst = addToBurst(burst, xp(60, "Resolved an incident"), 9);
    burst = addToBurst(burst, { ...xp(0, "Reviewing streak: 5 days"), kind: "streak", ruleId: "streaks.r" }, 12);
    const toast = burstToast(burst);
    expect(toast.title).toBe("+410 XP · 4 awards");
    expect(toast.items?.map((i) => i.text)).toEqual(["Merged 8 pull requests", "Did 15 code reviews", "Resolved an incident", "Reviewing streak: 5 days"]);
    expect(toast.items?.[0]).toMatchObject({ xp: "+200 XP", detail: "Merged 8 pull requests: arithmetic · metrics.Merged 8 pull requests · v3" });
    expect(toast.items?.[3]?.xp).toBeUndefined();
  });

  it("folds a badge's XP into the badge's line, whichever comes first", () => {
    const badgeFirst = addToBurst(addToBurst(null, badge, 0), xp(100, "Badge: Reviewer (gold)", "badges.reviewer"), 1);
    const xpFirst = addToBurst(addToBurst(null, xp(100, "Badge: Reviewer (gold)", "badges.reviewer"), 0), badge, 1);
    for (const burst of [badgeFirst, xpFirst]) {
      expect(burst.items).toHaveLength(1);
      expect(burst.items[0]).toMatchObject({ kind: "badge", xp: 100 });
      expect(burstToast(burst)).toMatchObject({ title: "+100 XP", body: "Badge: Reviewer (gold)", icon: "🏅" });
    }
  });

  it("headlines the most notable line of a burst", () => {
    const burst = addToBurst(addToBurst(null, xp(30, "Did 3 code reviews"), 0), badge, 1);
    expect(burstToast(burst)).toMatchObject({ title: "+30 XP · 2 awards", body: "Badge: Reviewer (gold)", icon: "🏅" });
  });

  it("starts a new burst after a pause, or once its toast is gone", () => {
    const first = addToBurst(null, xp(5, "a"), 0);
    expect(addToBurst(first, xp(5, "b"), BURST_WINDOW_MS).id).toBe(first.id);
    expect(addToBurst(first, xp(5, "b"), BURST_WINDOW_MS + 1).id).not.toBe(first.id);
    expect(addToBurst(first, xp(5, "b"), 10, false).id).not.toBe(first.id);
  });

  it("words a correction as one", () => {
    const toast = burstToast(addToBurst(null, xp(-5, "XP corrected"), 0));
    expect(toast).toMatchObject({ title: "XP corrected: \u22125 XP", tone: "warning" });
  });
});

describe("floaters", () => {
  const award = (id: string, amount: number): XpAward => ({
    id,
    amount,
    text: `+${amount} XP`,
    total: 0,
    ruleId: "r",
    ruleVersion: 1,
    summary: `award ${id}`,
    explanation: "",
    atMs: 0,
  });

  it("merges a burst into one floater with the sum", () => {
    let floaters: Floater[] = [];
    floaters = withFloater(floaters, award("a", 200), 0);
    floaters = withFloater(floaters, award("b", 150), 10);
    floaters = withFloater(floaters, award("c", 60), 20);
    expect(floaters).toHaveLength(1);
    expect(floaters[0]).toMatchObject({ id: "a", amount: 410, text: "+410 XP", count: 3, summary: "3 awards" });
  });

  it("keeps separate moments apart, at most two at once", () => {
    let floaters: Floater[] = [];
    for (let i = 0; i < 4; i++) floaters = withFloater(floaters, award(`a${i}`, 5), i * (FLOATER_MERGE_MS + 1));
    expect(floaters.map((f) => f.id)).toEqual(["a2", "a3"]);
    expect(withFloater([], award("x", 5), 0)[0]?.summary).toBe("award x");
  });
});
