import { describe, expect, it } from "vitest";
import {
  formatCompact,
  formatNumber,
  formatPercent,
  formatPeriod,
  formatRelativeTime,
  formatTimeLeft,
  formatXpDelta,
  plural,
  secondsUntil,
} from "@/lib/format";

const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);

describe("numbers", () => {
  it("groups thousands", () => {
    expect(formatNumber(1234567)).toBe("1,234,567");
    expect(formatNumber(3.25)).toBe("3.3");
    expect(formatNumber(NaN)).toBe("—");
  });
  it("compacts large numbers", () => {
    expect(formatCompact(9999)).toBe("9,999");
    expect(formatCompact(12_345)).toBe("12.3k");
    expect(formatCompact(2_500_000)).toBe("2.5M");
    expect(formatCompact(150_000)).toBe("150k");
  });
  it("signs XP deltas", () => {
    expect(formatXpDelta(12)).toBe("+12 XP");
    expect(formatXpDelta(1200)).toBe("+1,200 XP");
    expect(formatXpDelta(-5)).toBe("\u22125 XP");
  });
  it("formats percents, clamped", () => {
    expect(formatPercent(0.784)).toBe("78%");
    expect(formatPercent(1.5)).toBe("100%");
  });
  it("pluralizes", () => {
    expect(plural(1, "day")).toBe("1 day");
    expect(plural(3, "day")).toBe("3 days");
  });
});

describe("times", () => {
  it("relative times", () => {
    expect(formatRelativeTime(NOW - 3_000, NOW)).toBe("just now");
    expect(formatRelativeTime(NOW + 5_000, NOW)).toBe("just now");
    expect(formatRelativeTime(NOW - 42_000, NOW)).toBe("42 s ago");
    expect(formatRelativeTime(NOW - 5 * 60_000, NOW)).toBe("5 min ago");
    expect(formatRelativeTime(NOW - 3 * 3_600_000, NOW)).toBe("3 h ago");
    expect(formatRelativeTime(NOW - 30 * 3_600_000, NOW)).toBe("yesterday");
    expect(formatRelativeTime(NOW - 4 * 86_400_000, NOW)).toBe("4 d ago");
    expect(formatRelativeTime(Date.UTC(2026, 10, 1, 12), NOW, "en-GB")).toBe("1 Nov");
    expect(formatRelativeTime(Date.UTC(2026, 10, 1, 12), NOW, "en-US")).toBe("Nov 1"); // the viewer's locale
  });
  it("time left", () => {
    expect(formatTimeLeft(NOW + (2 * 24 + 4) * 3_600_000 + 5_000, NOW)).toBe("2d 4h left");
    expect(formatTimeLeft(NOW + 4 * 60_000 + 5_000, NOW)).toBe("4m 05s left");
    expect(formatTimeLeft(NOW - 1, NOW)).toBe("ended");
  });
  it("seconds until a retry, rounded up, never negative", () => {
    expect(secondsUntil(NOW + 2_100, NOW)).toBe(3);
    expect(secondsUntil(NOW - 500, NOW)).toBe(0);
  });
  it("mission periods", () => {
    expect(formatPeriod("2026-11-20", "2026-11-20")).toBe("Today");
    expect(formatPeriod("2026-11-19", "2026-11-20", "en-GB")).toBe("19 Nov");
    expect(formatPeriod("2026-11-19", "2026-11-20", "en-US")).toBe("Nov 19");
    expect(formatPeriod("week of 2026-11-16")).toBe("This week");
    expect(formatPeriod("2026-11", undefined, "en-GB")).toBe("November");
    expect(formatPeriod("window")).toBe("Rolling window");
    expect(formatPeriod("custom")).toBe("custom");
  });
});
