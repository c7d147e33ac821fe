// Durations for countdowns ("resets in 2d 4h", "4m 05s left"), computed from the client clock.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A compact duration: `2d 4h` (a day or more), `3h 07m` (an hour or more), `4m 05s`, `42s`.
 * Zero or negative: `0s`. Always rounds down, so a countdown never shows more time than is left.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return "0s";
  const days = Math.floor(ms / DAY);
  const hours = Math.floor((ms % DAY) / HOUR);
  const minutes = Math.floor((ms % HOUR) / MINUTE);
  const seconds = Math.floor((ms % MINUTE) / SECOND);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${pad(minutes)}m`;
  if (minutes > 0) return `${minutes}m ${pad(seconds)}s`;
  return `${seconds}s`;
}

function pad(n: number): string {
  return n.toString().padStart(2, "0");
}

/** "2d 4h left", "ended" once `endMs` is reached. */
export function formatTimeLeft(endMs: number, nowMs: number): string {
  const left = endMs - nowMs;
  return left <= 0 ? "ended" : `${formatDuration(left)} left`;
}

/** "resets in 2d 4h"; null for a board that never resets (all time). */
export function formatResetsIn(periodEndMs: number | null | undefined, nowMs: number): string | null {
  if (periodEndMs === null || periodEndMs === undefined) return null;
  const left = periodEndMs - nowMs;
  return left <= 0 ? "resetting now" : `resets in ${formatDuration(left)}`;
}

/** A date and time in the viewer's locale ("Nov 21, 2:23 PM", "21 Nov, 14:23"), in `timeZone` (default:
 * the viewer's), falling back to UTC for an unknown zone. `locale` is for tests. */
export function formatDateTime(ms: number, timeZone?: string, locale?: string): string {
  const options: Intl.DateTimeFormatOptions = { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(ms);
  } catch {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone: "UTC" }).format(ms);
  }
}

/** A date in the viewer's locale and timezone ("Nov 21, 2026", "21 Nov 2026"). */
export function formatDate(ms: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric" }).format(ms);
}

/** "3 min ago", "2 h ago", "Nov 21" for older. */
export function formatRelative(ms: number, nowMs: number): string {
  const diff = nowMs - ms;
  if (diff < MINUTE) return "just now";
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)} min ago`;
  if (diff < DAY) return `${Math.floor(diff / HOUR)} h ago`;
  return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" }).format(ms);
}

export function formatNumber(value: number): string {
  const rounded = Math.abs(value) >= 100 || Number.isInteger(value) ? Math.round(value) : Math.round(value * 10) / 10;
  return rounded.toLocaleString("en-US");
}
