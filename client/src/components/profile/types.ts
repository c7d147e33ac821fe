// HTTP shapes the profile reads (server/api/schemas.py, schemas_boards.py).
export interface LevelOut {
  level: number;
  xp: number;
  level_xp: number;
  next_level_xp: number | null;
  progress: number;
}

export interface BadgeOut {
  badge_id: string;
  name: string;
  tier: string | null;
  period: string | null;
  secret: boolean;
  earned_at: string;
  explanation: string;
  /** The award in a person's words; null for awards made before summaries. */
  summary: string | null;
}

export interface StreakOut {
  streak_id: string;
  name: string;
  current: number;
  best: number;
  freezes: number;
}

export interface LockedBadgeOut {
  badge_id: string;
  name: string;
  description: string;
  tiers: string[] | null;
  earned_tiers: string[];
}

export interface MeOut {
  user: { id: string; handle: string; display_name: string; avatar_url: string | null; role: string; timezone: string };
  level: LevelOut;
  badges: BadgeOut[];
  locked_badges: LockedBadgeOut[];
  streaks: StreakOut[];
  teams: string[];
}

export interface ProfileOut {
  handle: string;
  display_name: string;
  avatar_url: string | null;
  level: LevelOut;
  badges: BadgeOut[];
  streaks: StreakOut[];
  teams: string[];
}

export type { CatalogueEntry as CatalogueBadge } from "@/lib/badges";

export interface LedgerItem {
  id: number;
  amount: number;
  source: string;
  metric: string | null;
  day: string | null;
  rule_id: string;
  rule_version: number;
  explanation: string;
  /** The award in a person's words ("Merged a pull request"); null for lines written before summaries. */
  summary: string | null;
  event_ids: string[];
  created_at: string;
}
