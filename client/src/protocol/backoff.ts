// Close codes and reconnecting (PROTOCOL.md §17): what each close code asks of a client, the backoff delay
// (exponential, full jitter), and `Reconnects`, which tracks the attempt count across connections.

export interface CloseInfo {
  code: number;
  name: string;
  /** Reconnect automatically (with backoff). */
  reconnect: boolean;
  /** After reconnecting, resubscribe with `since` (keep the mirrors). */
  resume: boolean;
  /** Get a new access token before reconnecting. */
  newToken: boolean;
  /** The least delay before the attempt. */
  minDelayMs: number;
}

const row = (code: number, name: string, reconnect: boolean, newToken = false, minDelayMs = 0): CloseInfo =>
  Object.freeze({ code, name, reconnect, resume: reconnect, newToken, minDelayMs });

export const CLOSE_CODES: ReadonlyMap<number, CloseInfo> = new Map(
  [
    row(1000, "normal", false),
    row(1001, "going_away", true),
    row(1003, "unsupported_data", false),
    row(1006, "abnormal", true),
    row(1008, "policy_violation", false),
    row(1009, "message_too_big", false),
    row(1011, "internal_error", true),
    row(1012, "service_restart", true),
    row(1013, "try_again_later", true, false, 5000),
    row(4000, "protocol_violation", false),
    row(4001, "auth_failed", true, true),
    row(4002, "timeout", true),
    row(4003, "forbidden", false),
    row(4004, "token_expired", true, true),
    row(4008, "slow_consumer", true),
    row(4029, "rate_limited", true, false, 5000),
  ].map((info) => [info.code, info]),
);

/** What this side closes with when the server breaks the protocol (§16). Not in the table, so the
 * reconnection after it waits at least 1 s, as for any unknown code. */
export const PROTOCOL_ERROR = 1002;
/** What a dropped connection (no close frame, failed handshake, dead heartbeat) counts as. */
export const ABNORMAL = 1006;

/** What a client does on `code`; codes not in the table reconnect and resume after at least 1 s. */
export function closeInfo(code: number): CloseInfo {
  return CLOSE_CODES.get(code) ?? { code, name: "unknown", reconnect: true, resume: true, newToken: false, minDelayMs: 1000 };
}

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 30_000;
/** A connection authenticated this long resets the attempt count to 0. */
export const BACKOFF_RESET_MS = 60_000;

/** How long to wait before reconnection attempt `attempt` (0 for the first) after a close with `code`:
 * the code's floor plus `rand × min(30 s, 1 s × 2^attempt)`, `rand` uniform in [0, 1). null: do not
 * reconnect. */
export function reconnectDelayMs(code: number, attempt: number, rand: number): number | null {
  const info = closeInfo(code);
  if (!info.reconnect) return null;
  const window = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return info.minDelayMs + Math.floor(rand * window);
}

export interface ReconnectPlan {
  /** How long to wait; null: do not reconnect. */
  delayMs: number | null;
  /** Ask for a new token before the attempt (4001, 4004). */
  newToken: boolean;
}

/** §17 for one client across its connections. `attempt` counts up with every reconnection attempt that does
 * not reach `welcome`, and goes back to 0 once a connection has been authenticated for 60 s. The first
 * connection is not a reconnection: its failure is followed by attempt 0. */
export class Reconnects {
  attempt = 0;
  private welcomedAtMs: number | null = null;
  private reconnecting = false;
  /** A 4001 since the last welcome: a second one means the new token failed too. */
  private authFailed = false;

  constructor(private readonly random: () => number = Math.random) {}

  welcomed(nowMs: number): void {
    this.welcomedAtMs = nowMs;
    this.authFailed = false;
  }

  /** The connection (or attempt) ended with `code` (1006 for a failed handshake or a drop). */
  closed(code: number, nowMs: number): ReconnectPlan {
    const welcomedAt = this.welcomedAtMs;
    if (welcomedAt !== null && nowMs - welcomedAt >= BACKOFF_RESET_MS) this.attempt = 0;
    else if (welcomedAt === null && this.reconnecting) this.attempt += 1;
    this.welcomedAtMs = null;
    this.reconnecting = true;
    if (code === 4001) {
      if (this.authFailed) return { delayMs: null, newToken: false }; // the new token failed too: stop
      this.authFailed = true;
    }
    const delayMs = reconnectDelayMs(code, this.attempt, this.random());
    return { delayMs, newToken: delayMs !== null && closeInfo(code).newToken };
  }
}
