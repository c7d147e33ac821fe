// The badge grid: earned tiles (explanation on hover and focus), locked tiles (greyed, with what is
// needed) and secret placeholders.
"use client";

import { useId } from "react";
import { Pill } from "@/components/ui/Pill";
import type { BadgeTile } from "@/lib/badges";
import { formatDate } from "@/lib/time";

const TIER_TONE: Record<string, "xp" | "neutral" | "warning" | "info" | "accent"> = {
  gold: "xp",
  silver: "neutral",
  bronze: "warning",
  platinum: "info",
  diamond: "accent",
};

/** The day it was earned, in the viewer's locale and timezone. */
function dateOf(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? "" : formatDate(ms);
}

function Tile({ tile }: { tile: BadgeTile }) {
  const tipId = useId();
  if (tile.kind === "secret") {
    return (
      <li
        data-testid="badge-tile"
        data-state="secret"
        className="flex min-h-36 flex-col items-center justify-center gap-2 rounded-2xl border border-dashed border-accent/40 bg-accent/5 p-3 text-center"
      >
        <span aria-hidden className="flex size-12 items-center justify-center rounded-full bg-accent/20 text-2xl font-black text-accent-soft 2xl:size-16 2xl:text-3xl">
          ?
        </span>
        <span className="text-sm font-medium text-fg-muted 2xl:text-lg">Secret badge — keep playing</span>
      </li>
    );
  }
  if (tile.kind === "locked") {
    return (
      <li
        data-testid="badge-tile"
        data-state="locked"
        className="flex min-h-36 flex-col items-center justify-center gap-1.5 rounded-2xl border border-white/8 bg-white/[0.03] p-3 text-center grayscale"
      >
        <span aria-hidden className="flex size-12 items-center justify-center rounded-full bg-white/8 text-xl text-fg-subtle 2xl:size-16">
          🔒
        </span>
        <span className="font-semibold text-fg-muted 2xl:text-lg">{tile.name}</span>
        <span className="text-xs text-fg-subtle 2xl:text-sm">
          <span className="sr-only">Locked. </span>{tile.needs}
        </span>
      </li>
    );
  }
  return (
    <li
      data-testid="badge-tile"
      data-state="earned"
      tabIndex={0}
      aria-describedby={tipId}
      className="group relative flex min-h-36 flex-col items-center justify-center gap-1.5 rounded-2xl border border-xp/35 bg-gradient-to-b from-xp/15 to-transparent p-3 text-center outline-none focus-visible:ring-2 focus-visible:ring-accent-2"
    >
      <span aria-hidden className="flex size-12 items-center justify-center rounded-full bg-xp/25 text-2xl shadow-glow-xp 2xl:size-16 2xl:text-3xl">
        🏅
      </span>
      <span className="font-semibold text-fg 2xl:text-lg">
        {tile.name}
        {tile.times > 1 ? <span className="ml-1 text-xs text-xp-soft">×{tile.times}</span> : null}
      </span>
      {tile.tier ? <Pill tone={TIER_TONE[tile.tier] ?? "neutral"}>{tile.tier}</Pill> : null}
      <span className="text-xs text-fg-subtle 2xl:text-sm">{dateOf(tile.earnedAt)}</span>
      {tile.next ? <span className="text-[11px] text-fg-subtle 2xl:text-sm">{tile.next}</span> : null}
      <span
        id={tipId}
        role="tooltip"
        className="pointer-events-none invisible absolute bottom-full left-1/2 z-20 mb-2 w-60 -translate-x-1/2 rounded-xl border border-white/15 bg-ink-900 p-3 text-left text-xs text-fg opacity-0 shadow-card transition-opacity group-hover:visible group-hover:opacity-100 group-focus-visible:visible group-focus-visible:opacity-100 2xl:w-80 2xl:text-base"
      >
        <span className="block">{tile.summary || tile.description || tile.name}</span>
        {tile.explanation && tile.explanation !== tile.summary ? (
          <span className="mt-1 block font-mono text-[11px] text-fg-subtle 2xl:text-sm">{tile.explanation}</span>
        ) : null}
      </span>
    </li>
  );
}

export function BadgeGrid({ tiles }: { tiles: readonly BadgeTile[] }) {
  if (tiles.length === 0) return <p className="text-fg-muted">No badges yet.</p>;
  return (
    <ul className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-4 2xl:grid-cols-6" aria-label="Badges">
      {tiles.map((tile) => (
        <Tile key={`${tile.kind}:${tile.id}`} tile={tile} />
      ))}
    </ul>
  );
}
