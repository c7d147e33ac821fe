// Team standings: the HTTP snapshot, kept live by watching the listed teams' `team:{slug}` topics
// (at most 20) and re-ranking by their totals client-side.
"use client";

import { useCallback, useEffect, useMemo, useState } from "react";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { useApi } from "@/lib/hooks";
import { rankTeams, type TeamPeriod, type TeamStanding } from "@/lib/ranking";
import type { TeamDoc } from "@/protocol/documents";
import { useTopic } from "@/stores/live";
import { BoardRows, type RankedRow } from "./BoardRows";
import { EmptyState, ErrorState, SkeletonRows } from "./common";

const MAX_WATCHED = 20;

interface TeamBoard {
  period: TeamPeriod;
  teams: TeamStanding[];
}

/** Watches one team topic and reports its document and freshness upward; renders nothing. */
function TeamWatch({ slug, onDoc }: { slug: string; onDoc(slug: string, doc: TeamDoc | null, fresh: boolean): void }) {
  const view = useTopic<TeamDoc>(`team:${slug}`);
  useEffect(() => {
    onDoc(slug, view.doc, view.fresh);
  }, [slug, view.doc, view.fresh, onDoc]);
  return null;
}

export function TeamStandings({ period, myTeams }: { period: TeamPeriod; myTeams: readonly string[] }) {
  const board = useApi<TeamBoard>("/leaderboards/teams", { period });
  const [docs, setDocs] = useState<Record<string, { doc: TeamDoc | null; fresh: boolean }>>({});
  const onDoc = useCallback((slug: string, doc: TeamDoc | null, fresh: boolean) => {
    setDocs((prev) => (prev[slug]?.doc === doc && prev[slug]?.fresh === fresh ? prev : { ...prev, [slug]: { doc, fresh } }));
  }, []);

  const listed = board.data?.teams ?? [];
  const watched = listed.slice(0, MAX_WATCHED).map((t) => t.slug);
  const ranked = useMemo(() => {
    const live: Record<string, TeamDoc | null> = {};
    for (const [slug, entry] of Object.entries(docs)) live[slug] = entry.doc;
    return rankTeams(board.data?.teams ?? [], live, period);
  }, [board.data, docs, period]);
  const fresh = watched.every((slug) => docs[slug]?.fresh ?? false);

  const rows: RankedRow[] = ranked.map((t) => ({
    key: t.slug,
    rank: t.rank,
    name: t.name,
    score: t.score,
    detail: `${t.members} member${t.members === 1 ? "" : "s"}`,
    isViewer: myTeams.includes(t.slug),
  }));

  return (
    <>
      {watched.map((slug) => (
        <TeamWatch key={slug} slug={slug} onDoc={onDoc} />
      ))}
      {board.error && !board.data ? (
        <ErrorState error={board.error} onRetry={board.reload} title="Could not load the team standings" />
      ) : !board.data ? (
        <SkeletonRows label="Loading team standings" />
      ) : rows.length === 0 ? (
        <EmptyState title="No teams yet">An admin can create teams from the Admin page.</EmptyState>
      ) : (
        <StaleOverlay fresh={fresh}>
          <BoardRows rows={rows} unit={period === "weekly" ? "XP this week" : "XP"} label="Team standings" testId="team-row" />
        </StaleOverlay>
      )}
    </>
  );
}
