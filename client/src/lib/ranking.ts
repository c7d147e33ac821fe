// Ranking helpers for the leaderboard pages: competition ranks (1, 2, 2, 4) and team standings kept live
// from `team:{slug}` documents. No React here.
import type { TeamDoc } from "@/protocol/documents";

export type TeamPeriod = "weekly" | "all_time";

export interface TeamStanding {
  rank: number;
  slug: string;
  name: string;
  members: number;
  score: number;
}

/**
 * Competition ranks for items already sorted best first: equal scores share a rank and the next rank
 * skips (scores 9, 7, 7, 3 -> ranks 1, 2, 2, 4).
 */
export function competitionRanks(scores: readonly number[]): number[] {
  const ranks: number[] = [];
  scores.forEach((score, index) => {
    const previous = index > 0 ? scores[index - 1] : undefined;
    const previousRank = index > 0 ? ranks[index - 1] : undefined;
    ranks.push(previous !== undefined && previousRank !== undefined && previous === score ? previousRank : index + 1);
  });
  return ranks;
}

/** A team document's score for the period: this UTC week's XP, or all of it. */
export function teamScore(doc: TeamDoc, period: TeamPeriod): number {
  return period === "weekly" ? doc.totals.weekly_xp : doc.totals.xp;
}

/**
 * Team standings from the HTTP snapshot, updated with whatever live `team:{slug}` documents are known:
 * score, name and member count come from the live doc when there is one; archived teams drop out.
 * Sorted by score (highest first), ties by slug, with competition ranks.
 */
export function rankTeams(
  standings: readonly TeamStanding[],
  docs: Readonly<Record<string, TeamDoc | null | undefined>>,
  period: TeamPeriod,
): TeamStanding[] {
  const merged = standings
    .map((standing) => {
      const doc = docs[standing.slug];
      if (!doc) return standing;
      if (doc.archived) return null;
      return { ...standing, name: doc.name, members: doc.totals.members, score: teamScore(doc, period) };
    })
    .filter((s): s is TeamStanding => s !== null)
    .sort((a, b) => b.score - a.score || (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
  const ranks = competitionRanks(merged.map((s) => s.score));
  return merged.map((s, i) => ({ ...s, rank: ranks[i] ?? i + 1 }));
}

/** Members whose score or rank differ between two versions of a ranked list (for a brief highlight). */
export function changedKeys<T>(
  previous: readonly T[],
  next: readonly T[],
  key: (item: T) => string,
  fingerprint: (item: T) => string,
): Set<string> {
  const before = new Map(previous.map((item) => [key(item), fingerprint(item)]));
  const changed = new Set<string>();
  for (const item of next) {
    const was = before.get(key(item));
    if (was !== undefined && was !== fingerprint(item)) changed.add(key(item));
  }
  return changed;
}

/** Whether the viewer's row is among the first `visible` rows. */
export function isInTop<T extends { member: string }>(rows: readonly T[], member: string | undefined, visible: number): boolean {
  if (!member) return false;
  return rows.slice(0, visible).some((row) => row.member === member);
}
