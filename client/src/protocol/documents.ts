// The topic documents and event payloads of PROTOCOL.md §9 and §13, as TypeScript types.
// Receivers ignore fields they do not know, so these types list what the client reads, not all that may come.

export interface Badge {
  badge_id: string;
  name: string;
  tier: string | null;
  period: string | null;
  secret: boolean;
  earned_at_ms: number;
  explanation: string;
  /** The award in a person's words ("Badge: Second pair of eyes (silver)"); null for badges earned before summaries. */
  summary?: string | null;
}

export interface Streak {
  name: string;
  current: number;
  best: number;
  freezes: number;
}

export interface Mission {
  mission_id: string;
  name: string;
  period: string;
  progress: number;
  goal: number;
  completed: boolean;
  reward_xp: number;
}

/** `user:{user_id}` */
export interface UserDoc {
  user_id: string;
  handle: string;
  display_name: string;
  xp: number;
  level: number;
  level_xp: number;
  next_level_xp: number | null;
  progress: number;
  rule_version: number;
  badges: Record<string, Badge>;
  streaks: Record<string, Streak>;
  missions: Record<string, Mission>;
}

export interface BoardRow {
  member: string;
  display_name: string;
  score: number;
  rank: number;
}

/** `leaderboard:{board}:{period}` */
export interface LeaderboardDoc {
  board: string;
  period: string;
  period_start_ms: number;
  period_end_ms: number | null;
  size: number;
  ranked: number;
  rows: BoardRow[];
}

export interface TeamMember {
  handle: string;
  display_name: string;
  level: number;
  xp: number;
  weekly_xp: number;
  joined_at_ms: number;
}

/** `team:{slug}` */
export interface TeamDoc {
  slug: string;
  name: string;
  description: string;
  archived: boolean;
  members: Record<string, TeamMember>;
  totals: { members: number; xp: number; weekly_xp: number };
}

export interface PresencePerson {
  handle: string;
  display_name: string;
  since_ms: number;
}

/** `presence:global`, `presence:team:{slug}` */
export interface PresenceDoc {
  scope: string;
  count: number;
  truncated: boolean;
  people: Record<string, PresencePerson>;
}

export type ActivityKind = "level_up" | "badge_earned" | "mission_completed";

export interface ActivityItem {
  id: number;
  kind: ActivityKind;
  user_id: string;
  handle: string;
  display_name: string;
  data: Record<string, unknown>;
  at_ms: number;
}

/** `activity:global` */
export interface ActivityDoc {
  items: ActivityItem[];
}

export interface ChallengeTeam {
  name: string;
  score: number;
  rank: number | null;
  eligible: boolean;
  member_count: number;
  members: Record<string, { contribution: number; display_name: string }>;
  pace_per_hour: number;
  projection: number;
  progress: number | null;
  reached_goal_at_ms: number | null;
}

export interface ChallengeReward {
  team: string;
  kind: "rank" | "completion";
  rank: number | null;
  xp: number;
  badge: string | null;
  explanation: string;
  /** The reward in a person's words, with the team's name ("Sprint of the week: Platform, rank 1 of 3"). */
  summary?: string;
}

export interface ChallengeResults {
  ranks: Record<string, number>;
  winners: string[];
  rewards: ChallengeReward[];
  achieved: boolean | null;
}

/** `challenge:{challenge_id}` */
export interface ChallengeDoc {
  id: string;
  name: string;
  description: string;
  mode: "highest" | "first_to_goal" | "cooperative";
  scoring: "sum" | "average_per_member" | "points";
  metrics: string[];
  goal: number | null;
  timezone: string;
  starts_at_ms: number;
  ends_at_ms: number;
  closes_at_ms: number;
  state: "scheduled" | "live" | "closing" | "finished";
  teams: Record<string, ChallengeTeam>;
  combined: { score: number; goal: number; progress: number; achieved: boolean } | null;
  results: ChallengeResults | null;
}

/** Every award event carries its explanation and, from servers that have them, its summary (PROTOCOL.md §13). */
export interface Explained {
  rule_id: string;
  rule_version: number;
  explanation: string;
  /** The award in a person's words ("Merged a pull request"): no date, no XP amount. */
  summary?: string;
  notification_id?: number;
}

export interface EventData {
  xp_awarded: Explained & { amount: number; xp: number };
  level_up: Explained & { level: number; previous_level: number; xp: number };
  badge_earned: Explained & {
    key: string;
    badge_id: string;
    name: string;
    tier?: string | null;
    period?: string | null;
    xp?: number;
  };
  mission_completed: Explained & {
    key: string;
    mission_id: string;
    name: string;
    period: string;
    reward_xp: number;
  };
  streak_extended: Explained & { streak_id: string; name: string; current: number; best: number };
  streak_broken: Explained & { streak_id: string; name: string; previous: number };
  rank_changed: {
    board: string;
    period: string;
    rank: number;
    previous_rank?: number;
    score: number;
    top: number;
    notification_id?: number;
  };
  announcement: { title: string; text: string; severity: "info" | "warning" | "critical"; url?: string };
  challenge_started: { challenge_id: string; name: string; state: string; ends_at_ms: number };
  challenge_finished: { challenge_id: string; name: string; state: string; results: ChallengeResults };
}

export type KnownEventName = keyof EventData;
