// Turning the hub's events (PROTOCOL.md §13) into what the UI shows: a toast, a "+N XP" floater, a
// level-up celebration; and deciding which replayed notifications were already shown (dedupe) and which
// to mark read. Pure functions and a small deduper: no React, no network (those are injected).
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
  explanation: string;
  atMs: number;
}

export interface LevelUp {
  level: number;
  previousLevel: number;
  explanation: string;
  atMs: number;
}

export interface AwardEffect {
  /** What identifies the moment across a live delivery and a later replay (dedupe key). */
  key: string;
  toast: (ToastInput & { id: string }) | null;
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
      xp: null,
      levelUp: null,
      notificationId: null,
    };
  }

  if (!own) return null;

  switch (event.name) {
    case "xp_awarded": {
      const amount = num(data.amount, NaN);
      if (!Number.isFinite(amount)) return null;
      // XP awards are never replayed (not notifications), so each delivery is its own moment.
      const key = `xp:${moment}:${str(data.rule_id)}:${amount}:${++xpSequence}`;
      const text = formatXpDelta(amount);
      return {
        key,
        toast: {
          id: key,
          title: amount < 0 ? `XP corrected: ${text}` : text,
          body: explanation || undefined,
          tone: amount < 0 ? "warning" : "xp",
          icon: amount < 0 ? "↩️" : "✨",
          ttlMs: 4500,
        },
        xp: { id: key, amount, text, total: num(data.xp), ruleId: str(data.rule_id), explanation, atMs: event.atMs },
        levelUp: null,
        notificationId,
      };
    }
    case "level_up": {
      const level = num(data.level, NaN);
      if (!Number.isFinite(level)) return null;
      const key = `level:${level}`;
      return {
        key,
        toast: { id: key, title: `Level ${level}!`, body: explanation || "You reached a new level.", tone: "success", icon: "🚀", ttlMs: 7000 },
        xp: null,
        levelUp: { level, previousLevel: num(data.previous_level, level - 1), explanation, atMs: event.atMs },
        notificationId,
      };
    }
    case "badge_earned": {
      const d = data as Partial<EventData["badge_earned"]>;
      const name = badgeTitle(str(d.name, "a badge"), d.tier);
      const key = `badge:${str(d.key, str(d.badge_id))}`;
      const bonus = typeof d.xp === "number" && d.xp > 0 ? ` · ${formatXpDelta(d.xp)}` : "";
      return {
        key,
        toast: { id: key, title: `Badge unlocked: ${name}`, body: (explanation || "") + bonus || undefined, tone: "xp", icon: "🏅", ttlMs: 8000 },
        xp: null,
        levelUp: null,
        notificationId,
      };
    }
    case "mission_completed": {
      const d = data as Partial<EventData["mission_completed"]>;
      const key = `mission:${str(d.key, `${str(d.mission_id)}@${str(d.period)}`)}`;
      const reward = num(d.reward_xp);
      return {
        key,
        toast: {
          id: key,
          title: `Mission complete: ${str(d.name, "a mission")}`,
          body: [reward ? formatXpDelta(reward) : "", explanation].filter(Boolean).join(" · ") || undefined,
          tone: "success",
          icon: "🎯",
          ttlMs: 8000,
        },
        xp: null,
        levelUp: null,
        notificationId,
      };
    }
    case "streak_extended": {
      const d = data as Partial<EventData["streak_extended"]>;
      const current = num(d.current);
      const key = `streak:${str(d.streak_id)}:${current}:${moment}`;
      return {
        key,
        toast: {
          id: key,
          title: `${str(d.name, "Streak")}: ${formatNumber(current)} in a row`,
          body: [`Best ${formatNumber(num(d.best))}`, explanation].filter(Boolean).join(" · "),
          tone: "success",
          icon: "🔥",
          ttlMs: 6000,
        },
        xp: null,
        levelUp: null,
        notificationId,
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
          body: explanation || "Start a new one today.",
          tone: "warning",
          icon: "🧊",
          ttlMs: 8000,
        },
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
      return {
        key,
        toast: {
          id: key,
          title: rankHeadline(top, period),
          body: `Rank ${formatNumber(num(d.rank))} with ${formatNumber(num(d.score))} XP`,
          tone: "xp",
          icon: top <= 1 ? "🏆" : top <= 3 ? "🥇" : "📈",
          ttlMs: 9000,
        },
        xp: null,
        levelUp: null,
        notificationId,
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
    if (effect.xp) sinks.xp(effect.xp);
    if (effect.levelUp) sinks.levelUp(effect.levelUp);
  }
  if (effect.notificationId !== null) sinks.markRead(effect.notificationId);
  return fresh ? effect : null;
}

/** The part of an `activity:global` row this module reads. */
export interface ActivityRow {
  kind: string;
  display_name: string;
  data: Record<string, unknown>;
}

/**
 * A feed row in words: { icon, who, what } where what is "reached level 5", "earned Reviewer (gold)",
 * "earned a secret badge" (a secret badge's name is never shown), "completed Weekly Reviews".
 */
export function describeActivity(row: ActivityRow): { icon: string; who: string; what: string } {
  const who = row.display_name || "Someone";
  const d = row.data ?? {};
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
