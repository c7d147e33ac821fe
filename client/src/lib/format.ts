// Display formatting for the dashboard and the component library: numbers, XP amounts, relative times,
// time left. Pure functions (the clock is a parameter) so they are tested without React.
import { formatDuration, formatNumber as formatNumberBase } from "./time";

/** 12345 -> "12,345"; 3.25 -> "3.3"; non-finite -> "—". */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "—";
  return formatNumberBase(value);
}

/** 1234 -> "1.2k", 2_500_000 -> "2.5M"; below 10,000 the full number. */
export function formatCompact(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs < 10_000) return formatNumber(value);
  const [div, suffix] = abs >= 1e9 ? [1e9, "B"] : abs >= 1e6 ? [1e6, "M"] : [1e3, "k"];
  const scaled = value / div;
  const text = Math.abs(scaled) >= 100 ? Math.round(scaled).toString() : (Math.round(scaled * 10) / 10).toString();
  return text + suffix;
}

/** An XP change with its sign: "+12 XP", "−5 XP" (a true minus sign), "+1,200 XP". */
export function formatXpDelta(amount: number): string {
  const sign = amount < 0 ? "\u2212" : "+";
  return `${sign}${formatNumber(Math.abs(amount))} XP`;
}

/** "3,092 XP". */
export function formatXp(total: number): string {
  return `${formatNumber(total)} XP`;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * "just now" (under 10 s), "42 s ago", "5 min ago", "3 h ago", "yesterday", "4 d ago", then the date in
 * the viewer's locale ("Nov 21", "21 Nov"; `locale` for tests). A time in the future (clock skew) reads
 * as "just now".
 */
export function formatRelativeTime(ms: number, nowMs: number, locale?: string): string {
  const diff = nowMs - ms;
  if (diff < 10 * SECOND) return "just now";
  if (diff < MINUTE) return `${Math.floor(diff / SECOND)} s ago`;
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)} min ago`;
  if (diff < DAY) return `${Math.floor(diff / HOUR)} h ago`;
  if (diff < 2 * DAY) return "yesterday";
  if (diff < 7 * DAY) return `${Math.floor(diff / DAY)} d ago`;
  return new Intl.DateTimeFormat(locale, { month: "short", day: "numeric" }).format(ms);
}

/** "2d 4h left", "4m 05s left"; "ended" once past. */
export function formatTimeLeft(endMs: number, nowMs: number): string {
  const left = endMs - nowMs;
  return left <= 0 ? "ended" : `${formatDuration(left)} left`;
}

/** Whole seconds until `atMs`, never negative (for "Reconnecting in 3s"). */
export function secondsUntil(atMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((atMs - nowMs) / SECOND));
}

/** 0.784 -> "78%". */
export function formatPercent(ratio: number): string {
  if (!Number.isFinite(ratio)) return "—";
  return `${Math.round(Math.min(1, Math.max(0, ratio)) * 100)}%`;
}

/** A mission period label for people, in the viewer's locale: "2026-11-20" -> "Today"/"Nov 20"; "week of …"
 * -> "This week"; "2026-11" -> "November". (A period is a calendar date, not an instant: formatted as UTC.) */
export function formatPeriod(period: string, todayIso?: string, locale?: string): string {
  if (period === "window") return "Rolling window";
  if (/^week of /i.test(period)) return "This week";
  if (/^\d{4}-\d{2}-\d{2}$/.test(period)) {
    if (todayIso && period === todayIso) return "Today";
    return new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", timeZone: "UTC" }).format(Date.parse(`${period}T00:00:00Z`));
  }
  if (/^\d{4}-\d{2}$/.test(period)) {
    return new Intl.DateTimeFormat(locale, { month: "long", timeZone: "UTC" }).format(Date.parse(`${period}-01T00:00:00Z`));
  }
  return period;
}

/** "1 day" / "3 days". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}
