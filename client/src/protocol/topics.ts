// Topic names (PROTOCOL.md §8). The grammar is matched against the whole string (`$` in JS regexes without
// the `m` flag matches only at the very end, so "team:platform\n" is refused).
import { MAX_TOPIC_LENGTH } from "./limits";

const ID = "[a-z0-9][a-z0-9_-]{0,63}";
const SLUG = "[a-z0-9][a-z0-9-]{1,63}";

export const PERIODS = ["daily", "weekly", "monthly", "all_time"] as const;
export type Period = (typeof PERIODS)[number];

export const TOPIC_REGEX = new RegExp(
  `^(?:user:${ID}|leaderboard:${ID}:(?:daily|weekly|monthly|all_time)|team:${SLUG}` +
    `|presence:(?:global|team:${SLUG})|activity:global|challenge:${ID})$`,
);

export type TopicKind = "user" | "leaderboard" | "team" | "presence" | "activity" | "challenge";

/** A parsed topic: its kind and the parts after the kind (`leaderboard` → [board, period];
 * `presence` → ["global"] or ["team", slug]; the others → [their id]). */
export interface Topic {
  kind: TopicKind;
  parts: string[];
}

export function isTopic(value: unknown): boolean {
  return typeof value === "string" && value.length <= MAX_TOPIC_LENGTH && TOPIC_REGEX.test(value);
}

export function parseTopic(value: string): Topic {
  if (!isTopic(value)) throw new TypeError(`not a topic: ${JSON.stringify(value.slice(0, MAX_TOPIC_LENGTH))}`);
  const colon = value.indexOf(":");
  const kind = value.slice(0, colon) as TopicKind;
  const rest = value.slice(colon + 1);
  if (kind === "leaderboard") {
    const [board = "", period = ""] = rest.split(":");
    return { kind, parts: [board, period] };
  }
  if (kind === "presence") return { kind, parts: rest === "global" ? ["global"] : ["team", rest.slice(5)] };
  return { kind, parts: [rest] };
}

function checked(value: string): string {
  parseTopic(value);
  return value;
}

export const userTopic = (userId: string): string => checked(`user:${userId}`);
export const leaderboardTopic = (board: string, period: Period): string => checked(`leaderboard:${board}:${period}`);
export const teamTopic = (slug: string): string => checked(`team:${slug}`);
/** `presence:global`, or `presence:team:{team}`. */
export const presenceTopic = (team?: string): string =>
  checked(team === undefined ? "presence:global" : `presence:team:${team}`);
export const activityTopic = (): string => "activity:global";
export const challengeTopic = (challengeId: string): string => checked(`challenge:${challengeId}`);

/** How the grammar's length bound reads in error messages. */
export const MAX_TOPIC_LENGTH_HINT = `at most ${MAX_TOPIC_LENGTH} characters`;
