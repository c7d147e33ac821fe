// The profile's badge grid as data: earned, locked (with what is needed next) and secret placeholders.
// No React.

export interface CatalogueEntry {
  id: string;
  hidden: boolean;
  secret: boolean;
  name: string | null;
  description: string | null;
  icon?: string | null;
  repeat: "daily" | "weekly" | "monthly" | null;
  xp?: number | null;
  tiers: { name: string; threshold: number }[] | null;
  earned: { key: string; tier: string | null; period: string | null; earned_at: string }[];
}

export interface EarnedBadge {
  badge_id: string;
  name: string;
  tier: string | null;
  period: string | null;
  earned_at: string;
  explanation: string;
  /** The award in words ("Badge: Reviewer (gold)"); null or absent before summaries. */
  summary?: string | null;
}

export type BadgeTile =
  | {
      kind: "earned";
      id: string;
      name: string;
      tier: string | null;
      times: number;
      earnedAt: string;
      /** The award's words, shown first; the explanation (its arithmetic) after, smaller. */
      summary: string | null;
      explanation: string;
      next: string | null;
      description: string | null;
    }
  | { kind: "locked"; id: string; name: string; description: string | null; needs: string }
  | { kind: "secret"; id: string };

const TIER_ORDER = ["bronze", "silver", "gold", "platinum", "diamond"];

function tierIndex(tier: string | null, tiers: { name: string }[] | null): number {
  if (tier === null) return -1;
  const fromRules = tiers?.findIndex((t) => t.name === tier) ?? -1;
  return fromRules >= 0 ? fromRules : TIER_ORDER.indexOf(tier);
}

/**
 * One tile per catalogue badge, in catalogue order: earned (the best tier, how many times, when last,
 * and its explanation from the earned list), locked (what the first tier needs), or a secret
 * placeholder. Badges earned but missing from the catalogue (retired by a rules change) are appended.
 */
export function badgeTiles(catalogue: readonly CatalogueEntry[], earned: readonly EarnedBadge[]): BadgeTile[] {
  const tiles: BadgeTile[] = [];
  const seen = new Set<string>();
  for (const entry of catalogue) {
    if (entry.hidden) {
      tiles.push({ kind: "secret", id: entry.id });
      continue;
    }
    seen.add(entry.id);
    const name = entry.name ?? entry.id;
    if (entry.earned.length === 0) {
      const first = entry.tiers?.[0];
      tiles.push({
        kind: "locked",
        id: entry.id,
        name,
        description: entry.description,
        needs: first
          ? `Needs ${first.name} at ${first.threshold.toLocaleString("en-US")}`
          : (entry.description ?? "Keep playing"),
      });
      continue;
    }
    const best = [...entry.earned].sort((a, b) => tierIndex(b.tier, entry.tiers) - tierIndex(a.tier, entry.tiers) || b.earned_at.localeCompare(a.earned_at))[0];
    const bestIndex = tierIndex(best?.tier ?? null, entry.tiers);
    const nextTier = entry.tiers && bestIndex >= 0 ? entry.tiers[bestIndex + 1] : undefined;
    const award = earned
      .filter((e) => e.badge_id === entry.id && e.tier === (best?.tier ?? null))
      .sort((a, b) => b.earned_at.localeCompare(a.earned_at))[0];
    tiles.push({
      kind: "earned",
      id: entry.id,
      name,
      tier: best?.tier ?? null,
      times: entry.repeat ? entry.earned.length : 1,
      earnedAt: best?.earned_at ?? "",
      summary: award?.summary ?? null,
      explanation: award?.explanation ?? entry.description ?? "",
      next: nextTier ? `Next: ${nextTier.name} at ${nextTier.threshold.toLocaleString("en-US")}` : null,
      description: entry.description,
    });
  }
  // Earned badges the catalogue does not list.
  const extra = new Map<string, EarnedBadge>();
  for (const e of earned) if (!seen.has(e.badge_id) && !extra.has(e.badge_id)) extra.set(e.badge_id, e);
  for (const e of extra.values()) {
    tiles.push({ kind: "earned", id: e.badge_id, name: e.name, tier: e.tier, times: 1, earnedAt: e.earned_at, summary: e.summary ?? null, explanation: e.explanation, next: null, description: null });
  }
  return tiles;
}

/** A public profile has no catalogue: one tile per badge (its best tier). */
export function earnedTiles(earned: readonly EarnedBadge[]): BadgeTile[] {
  const byId = new Map<string, EarnedBadge[]>();
  for (const e of earned) byId.set(e.badge_id, [...(byId.get(e.badge_id) ?? []), e]);
  return [...byId.entries()].map(([id, list]) => {
    const best = [...list].sort((a, b) => tierIndex(b.tier, null) - tierIndex(a.tier, null) || b.earned_at.localeCompare(a.earned_at))[0] ?? list[0]!;
    return { kind: "earned" as const, id, name: best.name, tier: best.tier, times: list.filter((e) => e.tier === best.tier).length, earnedAt: best.earned_at, summary: best.summary ?? null, explanation: best.explanation, next: null, description: null };
  });
}

/** Merge a page of ledger items into a list, newest (highest id) first, without duplicates. */
export function mergeLedger<T extends { id: number }>(current: readonly T[], incoming: readonly T[]): T[] {
  const byId = new Map<number, T>();
  for (const item of current) byId.set(item.id, item);
  for (const item of incoming) byId.set(item.id, item);
  return [...byId.values()].sort((a, b) => b.id - a.id);
}
