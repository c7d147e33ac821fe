// One live leaderboard (`leaderboard:{board}:{period}`): the top rows, the period countdown, and an
// "Around you" block from the HTTP API when the viewer is not among the rows shown.
"use client";

import { useEffect, useState } from "react";
import { Button } from "@/components/ui/Button";
import { LiveDot } from "@/components/ui/LiveDot";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { useApi, useDebounced, useNow } from "@/lib/hooks";
import { isInTop } from "@/lib/ranking";
import { formatResetsIn } from "@/lib/time";
import type { LeaderboardDoc } from "@/protocol/documents";
import { useTopic } from "@/stores/live";
import { BoardRows, type RankedRow } from "./BoardRows";
import { EmptyState, ErrorState, SkeletonRows } from "./common";
import { Pending } from "@/components/shell/Pending";

const FIRST_ROWS = 10;

export type Period = "daily" | "weekly" | "monthly" | "all_time";

interface BoardRowOut {
  rank: number;
  member: string;
  handle: string;
  display_name: string;
  score: number;
}

interface BoardOut {
  board: string;
  period: Period;
  period_start: string | null;
  period_end: string | null;
  ranked: number;
  rows: BoardRowOut[];
  me: BoardRowOut | null;
}

export function PlayerBoard({ board, period, viewerId, unit }: { board: string; period: Period; viewerId: string; unit: string }) {
  const view = useTopic<LeaderboardDoc>(`leaderboard:${board}:${period}`);
  const [expanded, setExpanded] = useState(false);
  const now = useNow(30_000);
  const doc = view.doc;
  const rows = doc?.rows ?? [];
  const shown = expanded ? rows : rows.slice(0, FIRST_ROWS);
  const viewerVisible = isInTop(rows, viewerId, shown.length);

  const ranked: RankedRow[] = shown.map((row) => ({
    key: row.member,
    rank: row.rank,
    name: row.display_name,
    score: row.score,
    isViewer: row.member === viewerId,
  }));

  const resets = now === null ? null : formatResetsIn(doc?.period_end_ms ?? null, now);

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2 text-sm text-fg-muted 2xl:text-xl">
        <span className="inline-flex items-center gap-2">
          <LiveDot fresh={view.fresh} showLabel />
          {doc ? (
            <span>
              {doc.ranked.toLocaleString("en-US")} ranked
            </span>
          ) : null}
        </span>
        {resets ? <span className="tabular-nums">{resets}</span> : period === "all_time" ? <span>Never resets</span> : null}
      </div>

      {view.error && !doc ? (
        <ErrorState
          error={new Error(view.error === "unknown_topic" ? "This board does not exist in the current rules." : `The hub refused this board (${view.error}).`)}
          title="Board unavailable"
        />
      ) : !doc ? (
        <Pending what="the leaderboard" skeleton={<SkeletonRows label="Loading the leaderboard" />} />
      ) : rows.length === 0 ? (
        <EmptyState title="Nobody has scored yet">The first points of the period will show up here live.</EmptyState>
      ) : (
        <StaleOverlay fresh={view.fresh}>
          <BoardRows rows={ranked} unit={unit} label="Leaderboard" />
          {rows.length > FIRST_ROWS ? (
            <div className="mt-3 flex justify-center">
              <Button variant="ghost" size="sm" onClick={() => setExpanded((e) => !e)} aria-expanded={expanded}>
                {expanded ? `Show top ${FIRST_ROWS}` : `Show all ${rows.length}`}
              </Button>
            </div>
          ) : null}
        </StaleOverlay>
      )}

      {doc && !viewerVisible ? <AroundMe board={board} period={period} viewerId={viewerId} unit={unit} offset={view.offset} /> : null}
    </div>
  );
}

/** The rows around the viewer, refetched (debounced) as the live board moves. */
function AroundMe({ board, period, viewerId, unit, offset }: { board: string; period: Period; viewerId: string; unit: string; offset: number | null }) {
  const around = useApi<BoardOut>(`/leaderboards/${encodeURIComponent(board)}/${period}`, { around: "me", radius: 3 });
  const settled = useDebounced(offset, 2000);
  const { reload } = around;
  const [seen, setSeen] = useState(settled);
  useEffect(() => {
    if (settled !== seen) {
      setSeen(settled);
      reload();
    }
  }, [settled, seen, reload]);

  if (around.error && !around.data) return <ErrorState error={around.error} onRetry={around.reload} title="Could not load your position" />;
  if (!around.data) return <SkeletonRows count={3} label="Loading your position" />;
  if (!around.data.me) {
    return (
      <p className="rounded-xl border border-dashed border-white/15 px-4 py-3 text-center text-fg-muted">
        You are not on this board yet — score this period to get ranked.
      </p>
    );
  }
  const rows: RankedRow[] = around.data.rows.map((row) => ({
    key: row.member,
    rank: row.rank,
    name: row.display_name,
    score: row.score,
    detail: `@${row.handle}`,
    href: `/profile/?handle=${encodeURIComponent(row.handle)}`,
    isViewer: row.member === viewerId,
  }));
  return (
    <section aria-labelledby="around-you" className="space-y-2">
      <h2 id="around-you" className="text-sm font-semibold uppercase tracking-wider text-fg-subtle 2xl:text-lg">
        Around you · #{around.data.me.rank} of {around.data.ranked}
      </h2>
      <BoardRows rows={rows} unit={unit} label="Around you" testId="around-row" />
    </section>
  );
}
