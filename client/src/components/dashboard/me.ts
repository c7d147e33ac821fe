// GET /api/v1/me: the teams to watch, the recent ledger, and a last-known copy of the user document to
// show (marked not live) until the live one arrives.
import type { Badge, Mission, Streak, UserDoc } from "@/protocol/documents";
import type { XpAward } from "@/lib/awards";
import { formatXpDelta } from "@/lib/format";

export interface MeResponse {
  user: { id: string; handle: string; display_name: string };
  level: { level: number; xp: number; level_xp: number; next_level_xp: number | null; progress: number };
  badges: Array<{ badge_id: string; name: string; tier: string | null; period: string | null; secret: boolean; earned_at: string; explanation: string; summary?: string | null }>;
  streaks: Array<{ streak_id: string; name: string; current: number; best: number; freezes: number }>;
  missions: Array<{ mission_id: string; name: string; period: string; progress: number; goal: number; completed: boolean; reward_xp: number }>;
  teams: string[];
  rule_version: number;
}

export interface LedgerItem {
  id: number;
  amount: number;
  rule_id: string;
  rule_version?: number;
  explanation: string;
  summary?: string | null;
  created_at: string;
}

export function meToUserDoc(me: MeResponse): UserDoc {
  const badges: Record<string, Badge> = {};
  for (const b of me.badges) {
    const key = b.badge_id + (b.tier ? `:${b.tier}` : "") + (b.period ? `@${b.period}` : "");
    badges[key] = {
      badge_id: b.badge_id,
      name: b.name,
      tier: b.tier,
      period: b.period,
      secret: b.secret,
      earned_at_ms: Date.parse(b.earned_at) || 0,
      explanation: b.explanation,
      summary: b.summary ?? null,
    };
  }
  const streaks: Record<string, Streak> = {};
  for (const s of me.streaks) streaks[s.streak_id] = { name: s.name, current: s.current, best: s.best, freezes: s.freezes };
  const missions: Record<string, Mission> = {};
  for (const m of me.missions) missions[`${m.mission_id}@${m.period}`] = { ...m };
  return {
    user_id: me.user.id,
    handle: me.user.handle,
    display_name: me.user.display_name,
    xp: me.level.xp,
    level: me.level.level,
    level_xp: me.level.level_xp,
    next_level_xp: me.level.next_level_xp,
    progress: me.level.progress,
    rule_version: me.rule_version,
    badges,
    streaks,
    missions,
  };
}

export function ledgerToAwards(items: LedgerItem[]): XpAward[] {
  return items.map((item) => ({
    id: `ledger:${item.id}`,
    amount: item.amount,
    text: formatXpDelta(item.amount),
    total: 0,
    ruleId: item.rule_id,
    ruleVersion: item.rule_version ?? null,
    summary: item.summary || item.explanation,
    explanation: item.explanation,
    atMs: Date.parse(item.created_at) || 0,
  }));
}
