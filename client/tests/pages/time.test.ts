import { describe, expect, it } from "vitest";
import { formatDuration, formatResetsIn, formatTimeLeft } from "@/lib/time";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("time left", () => {
  it("shows days and hours from a day up", () => {
    expect(formatDuration(2 * D + 4 * H + 59 * M)).toBe("2d 4h");
    expect(formatDuration(D)).toBe("1d 0h");
  });

  it("shows hours and minutes under a day", () => {
    expect(formatDuration(D - 1)).toBe("23h 59m");
    expect(formatDuration(3 * H + 7 * M + 30 * S)).toBe("3h 07m");
    expect(formatDuration(H)).toBe("1h 00m");
  });

  it("shows minutes and seconds under an hour, seconds under a minute", () => {
    expect(formatDuration(H - 1)).toBe("59m 59s");
    expect(formatDuration(4 * M + 5 * S)).toBe("4m 05s");
    expect(formatDuration(M)).toBe("1m 00s");
    expect(formatDuration(59 * S + 999)).toBe("59s");
    expect(formatDuration(1)).toBe("0s");
  });

  it("ends at the end, and stays ended past it", () => {
    expect(formatTimeLeft(10_000, 10_000)).toBe("ended");
    expect(formatTimeLeft(10_000, 99_000)).toBe("ended");
    expect(formatTimeLeft(10_000 + 42 * S, 10_000)).toBe("42s left");
    expect(formatDuration(-5)).toBe("0s");
  });

  it("counts down to a board's reset", () => {
    expect(formatResetsIn(null, 0)).toBeNull();
    expect(formatResetsIn(2 * D + 4 * H, 0)).toBe("resets in 2d 4h");
    expect(formatResetsIn(5, 10)).toBe("resetting now");
  });
});
