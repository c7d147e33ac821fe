// Server problems (RFC 9457 bodies with `errors[]`) mapped onto form fields. No React.
import { ApiError } from "./api";

export type FieldErrors = Record<string, string>;

/**
 * A field error's path (`body.slug`, `metrics.0`, `rewards.1.badge`) mapped onto one of `fields`:
 * the longest known field that the path is, starts with (`metrics.0` -> `metrics`) or ends with
 * (`body.slug` -> `slug`). Unknown paths land on `_form`.
 */
export function fieldFor(path: string, fields: readonly string[]): string {
  const parts = path.split(".");
  let best: string | null = null;
  for (const field of fields) {
    const fieldParts = field.split(".");
    const matches =
      path === field ||
      path.startsWith(`${field}.`) ||
      path.endsWith(`.${field}`) ||
      parts.some((_, i) => parts.slice(i, i + fieldParts.length).join(".") === field);
    if (matches && (best === null || field.length > best.length)) best = field;
  }
  return best ?? "_form";
}

/**
 * The messages of a failed request by form field (first message wins per field, the others appended).
 * An error that is not an ApiError, or has no field errors, yields `_form` with its detail.
 */
export function problemToFields(error: unknown, fields: readonly string[]): FieldErrors {
  const result: FieldErrors = {};
  if (!(error instanceof ApiError)) {
    result._form = error instanceof Error ? error.message : "Something went wrong";
    return result;
  }
  const errors = error.problem.errors ?? [];
  for (const e of errors) {
    const key = fieldFor(e.field, fields);
    const prefix = key === "_form" && e.field ? `${e.field}: ` : "";
    const message = prefix + e.message;
    result[key] = result[key] ? `${result[key]}; ${message}` : message;
  }
  if (errors.length === 0) result._form = problemMessage(error);
  return result;
}

/** One human sentence for a failed request (a detail that already says the title is not said twice). */
export function problemMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const { detail, title } = error.problem;
    if (!detail || detail === title) return title;
    return detail.toLowerCase().startsWith(title.toLowerCase()) ? detail : `${title}: ${detail}`;
  }
  if (error instanceof Error) return error.message;
  return "Something went wrong";
}

/** The offset of `timeZone` from UTC at the instant `ms`, in ms (Paris in winter: +3_600_000). */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(ms);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? "0");
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * A `datetime-local` value ("2026-11-24T09:30") read as wall time in `timeZone`, as an ISO instant with
 * its offset ("2026-11-24T09:30:00+01:00"). Null when the value is empty or malformed.
 */
export function zonedToIso(local: string, timeZone: string): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match;
  const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? "0"));
  let offset: number;
  try {
    offset = zoneOffsetMs(wall, timeZone);
    offset = zoneOffsetMs(wall - offset, timeZone);
  } catch {
    return null;
  }
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset) / 60_000;
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${y}-${mo}-${d}T${h}:${mi}:${s ?? "00"}${sign}${hh}:${mm}`;
}

/** An instant as a `datetime-local` value in `timeZone` (the inverse of zonedToIso). */
export function isoToZonedLocal(iso: string, timeZone: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  let offset = 0;
  try {
    offset = zoneOffsetMs(ms, timeZone);
  } catch {
    offset = 0;
  }
  return new Date(ms + offset).toISOString().slice(0, 16);
}
