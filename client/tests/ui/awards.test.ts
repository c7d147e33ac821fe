import { describe, expect, it, vi } from "vitest";
import {
  AwardDeduper,
  describeActivity,
  describeEvent,
  handleAwardEvent,
  rankHeadline,
  type AwardEvent,
  type AwardSinks,
} from "@/lib/awards";

const ME = "u-1";
const ctx = { userId: ME };
const mine = (name: string, data: Record<string, unknown>, extra: Partial<AwardEvent> = {}): AwardEvent => ({
  topic: `user:${ME}`,
  name,
  data,
  atMs: 1_000,
  ...extra,
});

function sinks() {
  return {
    toast: vi.fn(),
    moment: vi.fn(),
    xp: vi.fn(),
    levelUp: vi.fn(),
    markRead: vi.fn(),
  } satisfies AwardSinks;
}

describe("describeEvent", () => {
  it("turns xp_awarded into a moment in words and a floater naming the amount", () => {
    const effect = describeEvent(
      mine(
        "xp_awarded",
        { amount: 12, xp: 3104, rule_id: "metrics.reviews_done", rule_version: 3, explanation: "reviews_done 3 × 4 XP", summary: "Did 3 code reviews" },
        { offset: 7 },
      ),
      ctx,
    );
    expect(effect?.toast).toBeNull(); // merged into its burst's toast (lib/bursts.ts)
    expect(effect?.moment).toMatchObject({ kind: "xp", text: "Did 3 code reviews", xp: 12, ruleId: "metrics.reviews_done", ruleVersion: 3, explanation: "reviews_done 3 × 4 XP" });
    expect(effect?.xp).toMatchObject({ amount: 12, total: 3104, text: "+12 XP", summary: "Did 3 code reviews", explanation: "reviews_done 3 × 4 XP" });
  });

  it("falls back to the explanation for an award made before summaries", () => {
    const effect = describeEvent(mine("xp_awarded", { amount: 5, xp: 10, rule_id: "r", rule_version: 1, explanation: "old words", summary: null }), ctx);
    expect(effect?.moment?.text).toBe("old words");
    expect(effect?.xp?.summary).toBe("old words");
  });

  it("gives each xp award its own key, even with the same offset", () => {
    const event = mine("xp_awarded", { amount: 4, xp: 8, rule_id: "r", rule_version: 1, explanation: "" }, { offset: 3 });
    expect(describeEvent(event, ctx)?.key).not.toBe(describeEvent(event, ctx)?.key);
  });

  it("words the badge by its summary, with its name as the fallback", () => {
    const data = { key: "reviewer:gold", badge_id: "reviewer", name: "Reviewer", tier: "gold", xp: 100, rule_id: "badges.reviewer", rule_version: 3, explanation: "reviews_done total 200 ≥ 200" };
    const effect = describeEvent(mine("badge_earned", { ...data, summary: "Badge: Reviewer (gold)" }), ctx);
    expect(effect?.moment).toMatchObject({ kind: "badge", text: "Badge: Reviewer (gold)", xp: 0, ruleId: "badges.reviewer" });
    expect(effect?.key).toBe("badge:reviewer:gold");
    expect(describeEvent(mine("badge_earned", data), ctx)?.moment?.text).toBe("Badge: Reviewer (gold)");
  });

  it("celebrates a level-up with the overlay alone: no toast, no arithmetic", () => {
    const effect = describeEvent(
      mine("level_up", { level: 11, previous_level: 10, xp: 3200, rule_id: "levels", rule_version: 1, explanation: "3200 ≥ 3160", summary: "Reached level 11" }),
      ctx,
    );
    expect(effect?.levelUp).toEqual({ level: 11, previousLevel: 10, summary: "Reached level 11", atMs: 1_000 });
    expect(effect?.toast).toBeNull();
    expect(effect?.moment).toBeNull();
  });

  it("words rank brackets", () => {
    expect(rankHeadline(10, "weekly")).toBe("You're in the top 10 of the week!");
    expect(rankHeadline(3, "all_time")).toBe("You're in the top 3 of all time!");
    expect(rankHeadline(1, "weekly")).toBe("You're #1 of the week!");
    const effect = describeEvent(mine("rank_changed", { board: "xp", period: "weekly", rank: 7, score: 640, top: 10 }), ctx);
    expect(effect?.toast).toBeNull(); // a line of its burst's toast
    expect(effect?.moment).toMatchObject({ kind: "rank", text: "You're in the top 10 of the week!", explanation: "Rank 7 with 640 XP" });
  });

  it("mission, streaks", () => {
    expect(
      describeEvent(mine("mission_completed", { key: "daily@2026-11-20", mission_id: "daily", name: "Review three", period: "2026-11-20", reward_xp: 20, rule_id: "m", rule_version: 1, explanation: "3 ≥ 3" }), ctx)
        ?.moment,
    ).toMatchObject({ kind: "mission", text: "Mission complete: Review three", explanation: "3 ≥ 3" });
    expect(describeEvent(mine("streak_extended", { streak_id: "s", name: "Reviewing streak", current: 5, best: 7, rule_id: "s", rule_version: 1, explanation: "" }), ctx)?.moment?.text).toBe(
      "Reviewing streak: 5 in a row",
    );
    expect(describeEvent(mine("streak_broken", { streak_id: "s", name: "Reviewing streak", previous: 9, rule_id: "s", rule_version: 1, explanation: "" }), ctx)?.toast).toMatchObject({
      title: "Reviewing streak ended at 9",
      tone: "warning",
    });
  });

  it("colors announcements by severity, critical ones stay", () => {
    const critical = describeEvent({ topic: "team:platform", name: "announcement", data: { title: "Outage", text: "Scoring paused", severity: "critical" }, atMs: 5 }, ctx);
    expect(critical?.toast).toMatchObject({ title: "Outage", body: "Scoring paused", tone: "danger", ttlMs: Infinity });
    const warning = describeEvent(mine("announcement", { title: "Heads up", text: "", severity: "warning" }), ctx);
    expect(warning?.toast?.tone).toBe("warning");
  });

  it("ignores unknown events, other users' topics and malformed data", () => {
    expect(describeEvent(mine("something_new", { a: 1 }), ctx)).toBeNull();
    expect(describeEvent({ topic: "user:someone-else", name: "xp_awarded", data: { amount: 5 }, atMs: 1 }, ctx)).toBeNull();
    expect(describeEvent(mine("xp_awarded", { amount: "lots" }), ctx)).toBeNull();
    expect(describeEvent(mine("level_up", null as unknown as Record<string, unknown>), ctx)).toBeNull();
  });
});

describe("handleAwardEvent", () => {
  const badge = (extra: Record<string, unknown> = {}) =>
    mine("badge_earned", { key: "reviewer:gold", badge_id: "reviewer", name: "Reviewer", tier: "gold", rule_id: "b", rule_version: 1, explanation: "e", ...extra });

  it("shows a replayed notification and marks it read", () => {
    const out = sinks();
    const shown = handleAwardEvent(badge({ notification_id: 42 }), ctx, new AwardDeduper(), out);
    expect(shown).not.toBeNull();
    expect(out.moment).toHaveBeenCalledTimes(1);
    expect(out.markRead).toHaveBeenCalledWith(42);
  });

  it("does not show a replay of a moment already shown live, but still marks it read", () => {
    const out = sinks();
    const deduper = new AwardDeduper();
    handleAwardEvent(badge(), ctx, deduper, out); // live, no notification id
    const again = handleAwardEvent(badge({ notification_id: 42 }), ctx, deduper, out); // replay after a reconnect
    expect(again).toBeNull();
    expect(out.moment).toHaveBeenCalledTimes(1);
    expect(out.markRead).toHaveBeenCalledWith(42);
  });

  it("shows a notification replayed twice (two reconnects) once", () => {
    const out = sinks();
    const deduper = new AwardDeduper();
    const levelUp = mine("level_up", { level: 5, previous_level: 4, xp: 1, rule_id: "levels", rule_version: 1, explanation: "", notification_id: 9 });
    handleAwardEvent(levelUp, ctx, deduper, out);
    handleAwardEvent(levelUp, ctx, deduper, out);
    expect(out.levelUp).toHaveBeenCalledTimes(1);
    expect(out.toast).not.toHaveBeenCalled();
    expect(out.markRead).toHaveBeenCalledTimes(2);
  });

  it("feeds xp awards to the floaters, every one of them", () => {
    const out = sinks();
    const deduper = new AwardDeduper();
    const xp = mine("xp_awarded", { amount: 4, xp: 8, rule_id: "r", rule_version: 1, explanation: "x" }, { offset: 3 });
    handleAwardEvent(xp, ctx, deduper, out);
    handleAwardEvent(xp, ctx, deduper, out);
    expect(out.xp).toHaveBeenCalledTimes(2);
    expect(out.markRead).not.toHaveBeenCalled();
  });

  it("forgets the oldest keys beyond its capacity", () => {
    const deduper = new AwardDeduper(2);
    expect(deduper.firstTime({ key: "a", notificationId: null })).toBe(true);
    expect(deduper.firstTime({ key: "b", notificationId: null })).toBe(true);
    expect(deduper.firstTime({ key: "c", notificationId: null })).toBe(true);
    expect(deduper.firstTime({ key: "c", notificationId: null })).toBe(false);
    expect(deduper.firstTime({ key: "a", notificationId: null })).toBe(true);
  });
});

describe("describeActivity", () => {
  it("words each kind, hiding secret badges", () => {
    expect(describeActivity({ kind: "level_up", display_name: "Ana", data: { level: 5, previous_level: 4 } })).toMatchObject({ who: "Ana", what: "reached level 5" });
    expect(describeActivity({ kind: "badge_earned", display_name: "Ben", data: { secret: false, badge_id: "r", name: "Reviewer", tier: "gold", period: null } }).what).toBe(
      "earned Reviewer (gold)",
    );
    expect(describeActivity({ kind: "badge_earned", display_name: "Ben", data: { secret: true } }).what).toBe("earned a secret badge");
    expect(describeActivity({ kind: "badge_earned", display_name: "Ben", data: { secret: true, name: "Leaked" } }).what).toBe("earned a secret badge");
    expect(describeActivity({ kind: "mission_completed", display_name: "Cy", data: { name: "Weekly Reviews" } }).what).toBe("completed Weekly Reviews");
  });

  it("words a feed row by its summary, but never a secret badge's", () => {
    expect(describeActivity({ kind: "level_up", display_name: "Ana", data: { level: 5, summary: "Reached level 5" } })).toMatchObject({ what: "Reached level 5", summary: true });
    expect(describeActivity({ kind: "challenge_won", display_name: "Ana", data: { summary: "Sprint of the week: Platform, rank 1 of 3" } }).what).toBe(
      "Sprint of the week: Platform, rank 1 of 3",
    );
    expect(describeActivity({ kind: "badge_earned", display_name: "Ben", data: { secret: true, summary: "Badge: Leaked" } }).what).toBe("earned a secret badge");
  });
});
