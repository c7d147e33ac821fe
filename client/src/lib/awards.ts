// Turning the hub's events (PROTOCOL.md §13) into what the UI shows: an award "moment" (merged with the
// others of its burst into one toast: lib/bursts.ts), a "+N XP" floater, the level-up celebration, a toast
// for what is not an award (announcements, rank brackets, a lapsed streak); and deciding which replayed
// notifications were already shown (dedupe) and which to mark read. Pure functions and a small deduper:
// no React, no network (those are injected).
//
// Words: an award is shown by its `summary` (the engine's words for a person, "Merged a pull request");
// the explanation (the arithmetic), the rule id and its version are details, shown on demand.
import type { EventData } from "@/protocol/documents";
import type { ToastInput, ToastTone } from "@/stores/toasts";
import { formatNumber, formatXpDelta } from "./format";

/** The part of a ServerEvent this module reads (structurally compatible with the protocol's type). */
export interface AwardEvent {
  topic: string;
  name: string;
  data: unknown;
  atMs: number;
  offset?: number;
}

export interface XpAward {
  /** Unique per award (used as the floater's and the list row's key). */
  id: string;
  amount: number;
  /** "+12 XP". */
  text: string;
  /** Total XP after the award. */
  total: number;
  ruleId: string;
  ruleVersion: number | null;
  /** The award in words ("Merged a pull request"); the explanation when the award has no summary. */
  summary: string;
  explanation: string;
  atMs: number;
}

export interface LevelUp {
  level: number;
  previousLevel: number;
  summary: string;
  atMs: number;
}

/** One award of a burst, in words: what a merged toast lists (lib/bursts.ts). */
export interface Moment {
  /** What the moment is: its XP joins a badge's or mission's moment of the same rule. */
  kind: "xp" | "badge" | "mission" | "streak" | "rank";
  icon: string;
  /** The summary (or its fallback): "Merged a pull request", "Badge: Reviewer (gold)". */
  text: string;
  /** XP that came with it (0 for none; a badge's XP arrives as its own xp_awarded of the same rule). */
  xp: number;
  ruleId: string;
  ruleVersion: number | null;
  /** The arithmetic, shown on demand. */
  explanation: string;
}

export interface AwardEffect {
  /** What identifies the moment across a live delivery and a later replay (dedupe key). */
  key: string;
  /** A toast of its own: for what is not an award (announcements, rank brackets, a lapsed streak). */
  toast: (ToastInput & { id: string }) | null;
  /** An award, shown merged with the rest of its burst (one toast per burst). */
  moment: Moment | null;
  xp: XpAward | null;
  levelUp: LevelUp | null;
  /** Set for a replayed notification: mark it read once shown. */
  notificationId: number | null;
}

export interface DescribeContext {
  /** The logged-in user's id: only `user:{id}` events are personal. */
  userId: string;
}

let xpSequence = 0;

const ANNOUNCEMENT_TONE: Record<string, ToastTone> = { info: "info", warning: "warning", critical: "danger" };

function str(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : fallback;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

function versionOf(data: Record<string, unknown>): number | null {
  const v = data.rule_version;
  return typeof v === "number" && Number.isInteger(v) ? v : null;
}

/** The award's words: its summary when it has one, else the fallback (the explanation, for awards made
 * before summaries existed). */
export function summaryOf(data: Record<string, unknown>, fallback: string): string {
  const summary = data.summary;
  return typeof summary === "string" && summary.trim() ? summary : fallback;
}

/** The details behind an award, for a disclosure: "metrics.prs_merged · v1". */
export function ruleLabel(ruleId: string, ruleVersion: number | null): string {
  return ruleVersion === null ? ruleId : `${ruleId} · v${ruleVersion}`;
}

function notificationIdOf(data: Record<string, unknown>): number | null {
  const id = data.notification_id;
  return typeof id === "number" && Number.isInteger(id) ? id : null;
}

/** "Reviewer (gold)" or "Reviewer". */
export function badgeTitle(name: string, tier?: string | null): string {
  return tier ? `${name} (${tier})` : name;
}

/** "You're in the top 10 of the week!", "You're #1 of all time!". */
export function rankHeadline(top: number, period: string): string {
  const when = period === "weekly" ? "of the week" : period === "all_time" ? "of all time" : `of ${period.replace(/_/g, " ")}`;
  return top <= 1 ? `You're #1 ${when}!` : `You're in the top ${top} ${when}!`;
}

/**
 * What an event means for the UI, or null for an event the dashboard does not show (unknown names,
 * other people's topics, malformed data).
 */
export function describeEvent(event: AwardEvent, ctx: DescribeContext): AwardEffect | null {
  if (!event.data || typeof event.data !== "object") return null;
  const data = event.data as Record<string, unknown>;
  const own = event.topic === `user:${ctx.userId}`;
  const notificationId = notificationIdOf(data);
  const explanation = str(data.explanation);
  const moment = event.offset ?? notificationId ?? event.atMs;

  if (event.name === "announcement") {
    if (!own && !event.topic.startsWith("team:")) return null;
    const d = data as Partial<EventData["announcement"]>;
    const title = str(d.title, "Announcement");
    const severity = str(d.severity, "info");
    const key = `announcement:${event.topic}:${event.offset ?? event.atMs}:${title}`;
    return {
      key,
      toast: {
        id: key,
        title,
        body: str(d.text) || undefined,
        tone: ANNOUNCEMENT_TONE[severity] ?? "info",
        icon: severity === "critical" ? "🚨" : severity === "warning" ? "⚠️" : "📣",
        ttlMs: severity === "critical" ? Infinity : 12_000,
      },
      moment: null,
      xp: null,
      levelUp: null,
      notificationId: null,
    };
  }

  if (!own) return null;

  const ruleId = str(data.rule_id);
  const ruleVersion = versionOf(data);
  const plain = { toast: null, xp: null, levelUp: null, notificationId } as const;

  switch (event.name) {
    case "xp_awarded": {
      const amount = num(data.amount, NaN);
      if (!Number.isFinite(amount)) return null;
      // XP awards are never replayed (not notifications), so each delivery is its own moment.
      const key = `xp:${moment}:${ruleId}:${amount}:${++xpSequence}`;
      const text = formatXpDelta(amount);
      const summary = summaryOf(data, explanation || (amount < 0 ? "XP corrected" : "XP awarded"));
      return {
        ...plain,
        key,
        moment: { kind: "xp", icon: amount < 0 ? "↩️" : "✨", text: summary, xp: amount, ruleId, ruleVersion, explanation },
        xp: { id: key, amount, text, total: num(data.xp), ruleId, ruleVersion, summary, explanation, atMs: event.atMs },
      };
    }
    case "level_up": {
      const level = num(data.level, NaN);
      if (!Number.isFinite(level)) return null;
      // The overlay alone says it: no toast beside it, and no arithmetic in it.
      return {
        ...plain,
        key: `level:${level}`,
        moment: null,
        levelUp: { level, previousLevel: num(data.previous_level, level - 1), summary: summaryOf(data, `Reached level ${formatNumber(level)}`), atMs: event.atMs },
      };
    }
    case "badge_earned": {
      const d = data as Partial<EventData["badge_earned"]>;
      const name = badgeTitle(str(d.name, "a badge"), d.tier);
      return {
        ...plain,
        key: `badge:${str(d.key, str(d.badge_id))}`,
        // Its XP (d.xp) comes as an xp_awarded of the same rule, which joins this moment.
        moment: { kind: "badge", icon: "🏅", text: summaryOf(data, `Badge: ${name}`), xp: 0, ruleId, ruleVersion, explanation },
      };
    }
    case "mission_completed": {
      const d = data as Partial<EventData["mission_completed"]>;
      return {
        ...plain,
        key: `mission:${str(d.key, `${str(d.mission_id)}@${str(d.period)}`)}`,
        moment: { kind: "mission", icon: "🎯", text: summaryOf(data, `Mission complete: ${str(d.name, "a mission")}`), xp: 0, ruleId, ruleVersion, explanation },
      };
    }
    case "streak_extended": {
      const d = data as Partial<EventData["streak_extended"]>;
      const current = num(d.current);
      return {
        ...plain,
        key: `streak:${str(d.streak_id)}:${current}:${moment}`,
        moment: {
          kind: "streak",
          icon: "🔥",
          text: summaryOf(data, `${str(d.name, "Streak")}: ${formatNumber(current)} in a row`),
          xp: 0,
          ruleId,
          ruleVersion,
          explanation,
        },
      };
    }
    case "streak_broken": {
      const d = data as Partial<EventData["streak_broken"]>;
      const key = `streak-broken:${str(d.streak_id)}:${moment}`;
      return {
        key,
        toast: {
          id: key,
          title: `${str(d.name, "Streak")} ended at ${formatNumber(num(d.previous))}`,
          body: "Start a new one today.",
          detail: explanation ? `${explanation} · ${ruleLabel(ruleId, ruleVersion)}` : undefined,
          tone: "warning",
          icon: "🧊",
          ttlMs: 8000,
        },
        moment: null,
        xp: null,
        levelUp: null,
        notificationId,
      };
    }
    case "rank_changed": {
      const d = data as Partial<EventData["rank_changed"]>;
      const top = num(d.top, 10);
      const period = str(d.period, "weekly");
      const key = `rank:${str(d.board, "xp")}:${period}:${top}`;
      // Brought by the same awards as the rest of the burst: a line of its toast, not a toast of its own.
      return {
        ...plain,
        key,
        moment: {
          kind: "rank",
          icon: top <= 1 ? "🏆" : top <= 3 ? "🥇" : "📈",
          text: rankHeadline(top, period),
          xp: 0,
          ruleId: "",
          ruleVersion: null,
          explanation: `Rank ${formatNumber(num(d.rank))} with ${formatNumber(num(d.score))} XP`,
        },
      };
    }
    default:
      return null;
  }
}

/**
 * Remembers the moments already shown (by dedupe key and by notification id), the newest `capacity`
 * of them, so a notification replayed after a reconnect, or delivered live and then replayed, shows once.
 */
export class AwardDeduper {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = 500) {}

  /** True the first time a moment is seen (and records it); false for a repeat. */
  firstTime(effect: Pick<AwardEffect, "key" | "notificationId">): boolean {
    const ids = [effect.key];
    if (effect.notificationId !== null) ids.push(`notification:${effect.notificationId}`);
    const seen = ids.some((id) => this.keys.has(id));
    for (const id of ids) this.remember(id);
    return !seen;
  }

  private remember(id: string) {
    this.keys.delete(id);
    this.keys.add(id);
    while (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next().value;
      if (oldest === undefined) break;
      this.keys.delete(oldest);
    }
  }
}

export interface AwardSinks {
  toast(input: ToastInput): void;
  /** An award: merged into its burst's toast. */
  moment(moment: Moment): void;
  xp(award: XpAward): void;
  levelUp(levelUp: LevelUp): void;
  /** Mark a replayed notification read (POST /me/notifications/{id}/read). */
  markRead(notificationId: number): void;
}

/**
 * Handle one event: show it unless it was shown already, and mark a replayed notification read either
 * way (a duplicate still needs the server to learn it was seen). Returns what was shown, or null.
 */
export function handleAwardEvent(
  event: AwardEvent,
  ctx: DescribeContext,
  deduper: AwardDeduper,
  sinks: AwardSinks,
): AwardEffect | null {
  const effect = describeEvent(event, ctx);
  if (!effect) return null;
  const fresh = deduper.firstTime(effect);
  if (fresh) {
    if (effect.toast) sinks.toast(effect.toast);
    if (effect.moment) sinks.moment(effect.moment);
    if (effect.xp) sinks.xp(effect.xp);
    if (effect.levelUp) sinks.levelUp(effect.levelUp);
  }
  if (effect.notificationId !== null) sinks.markRead(effect.notificationId);
  return fresh ? effect : null;
}

const ACTIVITY_ICON: Record<string, string> = { level_up: "🚀", badge_earned: "🏅", mission_completed: "🎯" };

/** The part of an `activity:global` row this module reads. */
export interface ActivityRow {
  kind: string;
  display_name: string;
  data: Record<string, unknown>;
}

/**
 * A feed row in words: { icon, who, what } where what is the moment's summary ("Reached level 5", "Badge:
 * Reviewer (gold)"), or for rows kept before summaries "reached level 5", "earned Reviewer (gold)", "earned
 * a secret badge" (a secret badge's name is never shown: its rows carry no summary), "completed Weekly
 * Reviews".
 */
export function describeActivity(row: ActivityRow): { icon: string; who: string; what: string; summary?: boolean } {
  const who = row.display_name || "Someone";
  const d = row.data ?? {};
  const icon = ACTIVITY_ICON[row.kind] ?? "✨";
  const secret = row.kind === "badge_earned" && d.secret === true;
  if (!secret && typeof d.summary === "string" && d.summary.trim()) return { icon, who, what: d.summary, summary: true };
  switch (row.kind) {
    case "level_up":
      return { icon: "🚀", who, what: `reached level ${formatNumber(num(d.level))}` };
    case "badge_earned":
      if (d.secret === true || typeof d.name !== "string") return { icon: "🔮", who, what: "earned a secret badge" };
      return { icon: "🏅", who, what: `earned ${badgeTitle(d.name, typeof d.tier === "string" ? d.tier : null)}` };
    case "mission_completed":
      return { icon: "🎯", who, what: `completed ${str(d.name, "a mission")}` };
    default:
      return { icon: "✨", who, what: "did something great" };
  }
}
