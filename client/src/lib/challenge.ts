// A team challenge's scoreboard as numbers for the race bars: order, widths, leader, finish. No React.
import type { ChallengeDoc, ChallengeResults, ChallengeTeam } from "@/protocol/documents";

export interface RaceLane {
  slug: string;
  name: string;
  score: number;
  rank: number | null;
  eligible: boolean;
  /** 0..1: the bar's width. */
  width: number;
  /** 0..1: where the projection marker sits (the score at the end at this pace). */
  projectionWidth: number;
  pacePerHour: number;
  projection: number;
  reachedGoal: boolean;
  memberCount: number;
  contributions: Contribution[];
}

export interface Contribution {
  member: string;
  display_name: string;
  contribution: number;
}

/**
 * What a bar is measured against: the goal when there is one (a bar full = the goal reached), else the
 * leader's score (the leader's bar full). Never zero, so widths are always finite.
 */
export function barScale(scores: readonly number[], goal: number | null | undefined): number {
  if (goal !== null && goal !== undefined && goal > 0) return goal;
  const top = Math.max(0, ...scores);
  return top > 0 ? top : 1;
}

/** `value / scale`, clamped to 0..1. */
export function barWidth(value: number, scale: number): number {
  if (!Number.isFinite(value) || scale <= 0) return 0;
  return Math.min(1, Math.max(0, value / scale));
}

/** Members by contribution, largest first (ties by name), at most `limit`. */
export function topContributions(team: ChallengeTeam, limit = 5): Contribution[] {
  return Object.entries(team.members ?? {})
    .map(([member, m]) => ({ member, display_name: m.display_name, contribution: m.contribution }))
    .sort((a, b) => b.contribution - a.contribution || a.display_name.localeCompare(b.display_name))
    .slice(0, limit);
}

/**
 * The lanes in rank order (eligible teams by rank then score, ineligible last), each with its widths.
 * In cooperative mode bars scale to the goal too (each team's share of the common goal).
 */
export function raceLanes(doc: ChallengeDoc, contributionLimit = 5): RaceLane[] {
  const entries = Object.entries(doc.teams ?? {});
  const scale = barScale(
    entries.map(([, t]) => t.score),
    doc.goal,
  );
  return entries
    .map(([slug, t]) => ({
      slug,
      name: t.name,
      score: t.score,
      rank: t.rank,
      eligible: t.eligible,
      width: barWidth(t.score, scale),
      projectionWidth: barWidth(t.projection, scale),
      pacePerHour: t.pace_per_hour,
      projection: t.projection,
      reachedGoal: t.reached_goal_at_ms !== null && t.reached_goal_at_ms !== undefined,
      memberCount: t.member_count,
      contributions: topContributions(t, contributionLimit),
    }))
    .sort(compareLanes);
}

function compareLanes(a: RaceLane, b: RaceLane): number {
  if (a.eligible !== b.eligible) return a.eligible ? -1 : 1;
  const ra = a.rank ?? Number.POSITIVE_INFINITY;
  const rb = b.rank ?? Number.POSITIVE_INFINITY;
  if (ra !== rb) return ra - rb;
  return b.score - a.score || (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0);
}

/** The leading teams (rank 1; several on a tie), empty when nobody scored yet. */
export function leaders(doc: ChallengeDoc): RaceLane[] {
  const lanes = raceLanes(doc).filter((l) => l.eligible);
  const first = lanes[0];
  if (!first || first.score <= 0) return [];
  return lanes.filter((l) => l.rank === first.rank && l.score === first.score);
}

/** The sentence a screen reader hears when the lead changes: "Platform leads with 120", "Tie: A and B". */
export function leaderLine(doc: ChallengeDoc): string {
  if (doc.mode === "cooperative" && doc.combined) {
    const pct = Math.round(Math.min(1, doc.combined.progress) * 100);
    return doc.combined.achieved ? "Goal reached together!" : `Together: ${pct}% of the goal`;
  }
  const top = leaders(doc);
  if (top.length === 0) return "No points yet";
  const verb = doc.state === "finished" ? (top.length > 1 ? "won (tie)" : "won") : top.length > 1 ? "tied for the lead" : "leads";
  const names = joinNames(top.map((l) => l.name));
  return `${names} ${verb} with ${formatScore(top[0]?.score ?? 0)}`;
}

export function joinNames(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? "";
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function formatScore(value: number): string {
  return (Number.isInteger(value) ? value : Math.round(value * 10) / 10).toLocaleString("en-US");
}

/** Whether the challenge is over with results to show. */
export function isFinished(doc: ChallengeDoc | null | undefined): boolean {
  return !!doc && doc.state === "finished";
}

/**
 * Whether a celebration should start: the doc went from not finished to finished while watched, or a
 * `challenge_finished` event arrived for it. A challenge already finished when first seen does not
 * celebrate (results show, without fireworks).
 */
export function justFinished(previous: ChallengeDoc | null | undefined, next: ChallengeDoc | null | undefined): boolean {
  return !!previous && !!next && previous.id === next.id && previous.state !== "finished" && next.state === "finished";
}

/** Winner names from the results (by slug), falling back to the slug for a team no longer in the doc. */
export function winnerNames(results: ChallengeResults, doc: ChallengeDoc | null | undefined): string[] {
  return results.winners.map((slug) => doc?.teams?.[slug]?.name ?? slug);
}

export const STATE_LABEL: Record<ChallengeDoc["state"], string> = {
  scheduled: "Scheduled",
  live: "Live",
  closing: "Closing",
  finished: "Finished",
};
