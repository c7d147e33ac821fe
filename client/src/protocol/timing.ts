// The client's decisions about time, as pure code (ported from protocol/client/_timing.py): when to refresh
// the token (§18), when to ping and when to give up on a pong (§14), and how fast to send (§15). Every
// function takes the time instead of reading a clock, so tests walk through schedules without waiting.

/** §18: refresh no later than 60 s before the token expires. */
export const REFRESH_MARGIN_MS = 60_000;
/** After a failed refresh, try again this much later at the soonest (the old token holds until it
 * expires; then the server closes with 4004 and the client reconnects with a new one). */
export const REFRESH_RETRY_MS = 5_000;

/** How long to wait before refreshing the token: at 80% of its remaining lifetime and no later than 60 s
 * before it expires, but not before half of it (a token of a minute or less would otherwise be refreshed
 * in a loop); both times on the server's clock. After failed refreshes, not sooner than REFRESH_RETRY_MS. */
export function refreshDelayMs(expiresAtMs: number, serverNowMs: number, failures = 0): number {
  const remaining = expiresAtMs - serverNowMs;
  const delay = Math.max(0, Math.floor(Math.max(remaining * 0.5, Math.min(remaining * 0.8, remaining - REFRESH_MARGIN_MS))));
  return failures > 0 ? Math.max(delay, REFRESH_RETRY_MS) : delay;
}

/** §14: a client SHOULD NOT ping more often than once a second. */
export const MIN_PING_INTERVAL_MS = 1000;

/** §14 on the client side: send something at least every `intervalMs` (a ping when nothing else went out),
 * and drop the connection when a ping gets no pong within `intervalMs`. */
export class Heartbeat {
  private lastSentMs: number;
  private lastPingMs = -Infinity;
  /** When the oldest unanswered ping went out. */
  private pingSentMs: number | null = null;

  constructor(
    readonly intervalMs: number,
    nowMs: number,
  ) {
    this.lastSentMs = nowMs;
  }

  sent(nowMs: number, ping = false): void {
    this.lastSentMs = nowMs;
    if (ping) {
      this.lastPingMs = nowMs;
      this.pingSentMs ??= nowMs;
    }
  }

  /** A pong arrived: the round trip of the ping it answers, in ms. */
  pong(nowMs: number): number | null {
    const sent = this.pingSentMs;
    this.pingSentMs = null;
    return sent === null ? null : nowMs - sent;
  }

  /** What to do next, and in how many ms (0 or less: now). */
  next(nowMs: number): { action: "ping" | "drop"; inMs: number } {
    if (this.pingSentMs !== null) return { action: "drop", inMs: this.pingSentMs + this.intervalMs - nowMs };
    const due = Math.max(this.lastSentMs + this.intervalMs, this.lastPingMs + MIN_PING_INTERVAL_MS);
    return { action: "ping", inMs: due - nowMs };
  }
}

/** The client paces itself below the server's bucket: network jitter can bunch frames that left evenly,
 * and a run of refused messages ends in 4029. */
export const PACING_MARGIN = 0.9;

/** The server's rate limiter (§15) replayed on the client, so that it never sends a message the server
 * would drop (a resume of 100 topics is 101 messages, over the burst of 40). */
export class TokenBucket {
  private rate = 0;
  private burst = 1;
  private tokens = 1;
  private lastMs: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    this.lastMs = nowMs;
    this.set(ratePerSecond, burst);
    this.tokens = this.burst; // full when the connection opens, as on the server
  }

  private set(ratePerSecond: number, burst: number): void {
    this.rate = ratePerSecond * PACING_MARGIN;
    this.burst = Math.max(1, Math.floor(burst * PACING_MARGIN));
  }

  /** The limits `welcome` announced (tokens already spent stay spent). */
  configure(ratePerSecond: number, burst: number, nowMs: number): void {
    this.refill(nowMs);
    this.set(ratePerSecond, burst);
    this.tokens = Math.min(this.tokens, this.burst);
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.rate);
    this.lastMs = nowMs;
  }

  /** How long until a message may go out (0: now). */
  delayMs(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.rate) * 1000;
  }

  take(nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= 1;
  }
}
