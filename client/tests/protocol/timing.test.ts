import { describe, expect, it } from "vitest";
import { closeInfo, reconnectDelayMs, Reconnects } from "@/protocol/backoff";
import { Heartbeat, refreshDelayMs, REFRESH_RETRY_MS, TokenBucket } from "@/protocol/timing";

describe("reconnectDelayMs (§17)", () => {
  it("is the code's floor plus full jitter over min(30 s, 1 s × 2^n)", () => {
    expect(reconnectDelayMs(1006, 0, 0.5)).toBe(500);
    expect(reconnectDelayMs(1006, 3, 0.5)).toBe(4000);
    expect(reconnectDelayMs(1006, 10, 0.5)).toBe(15_000);
    expect(reconnectDelayMs(1013, 0, 0)).toBe(5000);
    expect(reconnectDelayMs(4029, 0, 0.5)).toBe(5500);
    expect(reconnectDelayMs(4999, 0, 0)).toBe(1000); // unknown: at least 1 s
  });

  it("says not to reconnect on 1000, 1003, 1008, 1009, 4000, 4003", () => {
    for (const code of [1000, 1003, 1008, 1009, 4000, 4003]) expect(reconnectDelayMs(code, 0, 0.5)).toBeNull();
    expect(closeInfo(4004).newToken).toBe(true);
    expect(closeInfo(4001).newToken).toBe(true);
    expect(closeInfo(1012).newToken).toBe(false);
  });

  it("counts attempts that do not reach welcome, and resets after 60 s authenticated", () => {
    const reconnects = new Reconnects(() => 0.999);
    expect(reconnects.closed(1006, 0).delayMs).toBe(999); // the first connection's failure: attempt 0
    expect(reconnects.closed(1006, 1000).delayMs).toBe(1998);
    reconnects.welcomed(2000);
    expect(reconnects.closed(1006, 3000).delayMs).toBe(1998); // welcomed briefly: n stays
    reconnects.welcomed(4000);
    expect(reconnects.closed(1006, 64_000).delayMs).toBe(999); // 60 s authenticated: n back to 0
  });
});

describe("refreshDelayMs (§18)", () => {
  it("refreshes at 80% of the lifetime, no later than 60 s before expiry, not before half", () => {
    expect(refreshDelayMs(900_000, 0)).toBe(720_000); // 15 min: 80%
    expect(refreshDelayMs(200_000, 0)).toBe(140_000); // 60 s before expiry comes first
    expect(refreshDelayMs(60_000, 0)).toBe(30_000); // a minute: not before half
    expect(refreshDelayMs(1000, 5000)).toBe(0); // already expired
    expect(refreshDelayMs(1000, 0, 1)).toBe(REFRESH_RETRY_MS);
  });
});

describe("Heartbeat (§14)", () => {
  it("pings interval after the last send, at most once a second, and drops an unanswered ping", () => {
    const beat = new Heartbeat(25_000, 0);
    expect(beat.next(0)).toEqual({ action: "ping", inMs: 25_000 });
    beat.sent(10_000);
    expect(beat.next(10_000)).toEqual({ action: "ping", inMs: 25_000 });
    beat.sent(35_000, true);
    expect(beat.next(35_000)).toEqual({ action: "drop", inMs: 25_000 });
    expect(beat.pong(35_100)).toBe(100);
    expect(beat.next(35_100).action).toBe("ping");
  });
});

describe("TokenBucket (§15)", () => {
  it("lets a burst out at once, then paces below the server's rate", () => {
    const bucket = new TokenBucket(20, 40, 0);
    let sent = 0;
    while (bucket.delayMs(0) === 0) {
      bucket.take(0);
      sent++;
    }
    expect(sent).toBe(36); // 90% of the burst
    expect(bucket.delayMs(0)).toBeCloseTo(1000 / 18, 5); // 90% of 20 per second
  });
});
