// The Leaderboards page: players (by period and board) or teams, all live.
"use client";

import { useId, useState } from "react";
import { Card } from "@/components/ui/Card";
import { useApi, useHydrated } from "@/lib/hooks";
import { useSession } from "@/stores/session";
import { ChoiceChips, PageHeader, SkeletonRows, Tabs, type TabItem } from "./common";
import { PlayerBoard, type Period } from "./PlayerBoard";
import { TeamStandings } from "./TeamStandings";

type Scope = "players" | "teams";

const PERIODS: readonly TabItem<Period>[] = [
  { key: "daily", label: "Today" },
  { key: "weekly", label: "This week" },
  { key: "monthly", label: "This month" },
  { key: "all_time", label: "All time" },
];

const TEAM_PERIODS: readonly TabItem<"weekly" | "all_time">[] = [
  { key: "weekly", label: "This week" },
  { key: "all_time", label: "All time" },
];

const SCOPES: readonly TabItem<Scope>[] = [
  { key: "players", label: "Players" },
  { key: "teams", label: "Teams" },
];

interface RulesOut {
  summary: { metrics?: string[]; metric_names?: Record<string, string> };
}

interface MeOut {
  teams: string[];
}

/** The rules' name for a metric when known ("Pull requests merged"), else `reviews_done` -> "Reviews done". */
export function metricLabel(metric: string, names?: Record<string, string>): string {
  const named = names?.[metric];
  if (named) return named;
  const words = metric.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function LeaderboardsView() {
  const hydrated = useHydrated();
  const account = useSession((s) => s.account);
  const [scope, setScope] = useState<Scope>("players");
  const [period, setPeriod] = useState<Period>("weekly");
  const [teamPeriod, setTeamPeriod] = useState<"weekly" | "all_time">("weekly");
  const [board, setBoard] = useState("xp");
  const signedIn = hydrated && account !== null;
  const rules = useApi<RulesOut>(signedIn ? "/rules" : null);
  const me = useApi<MeOut>(signedIn && scope === "teams" ? "/me" : null);
  const panelId = useId();

  const boards: TabItem<string>[] = [
    { key: "xp", label: "XP" },
    ...(rules.data?.summary.metrics ?? []).map((m) => ({ key: m, label: metricLabel(m, rules.data?.summary.metric_names) })),
  ];
  const unit = board === "xp" ? "XP" : metricLabel(board, rules.data?.summary.metric_names);

  return (
    <section className="mx-auto w-full max-w-5xl space-y-5 2xl:max-w-7xl" aria-labelledby="leaderboards-title">
      <PageHeader title={<span id="leaderboards-title">Leaderboards</span>} subtitle="Live rankings — rows glide as points land." />
      <div className="flex flex-col gap-3 sm:flex-row sm:flex-wrap sm:items-center sm:justify-between">
        <Tabs<Scope> items={SCOPES} value={scope} onChange={setScope} label="Rank players or teams" controls={panelId} />
        {scope === "players" ? (
          <Tabs<Period> items={PERIODS} value={period} onChange={setPeriod} label="Period" controls={panelId} size="sm" />
        ) : (
          <Tabs<"weekly" | "all_time"> items={TEAM_PERIODS} value={teamPeriod} onChange={setTeamPeriod} label="Period" controls={panelId} size="sm" />
        )}
      </div>
      {scope === "players" && boards.length > 1 ? <ChoiceChips items={boards} value={board} onChange={setBoard} label="Board" /> : null}
      <Card id={panelId} role="tabpanel" aria-label={scope === "players" ? `${unit} leaderboard` : "Team standings"} padding="md">
        {!signedIn ? (
          <SkeletonRows label="Loading" />
        ) : scope === "players" ? (
          <PlayerBoard key={`${board}:${period}`} board={board} period={period} viewerId={account.id} unit={unit} />
        ) : (
          <TeamStandings key={teamPeriod} period={teamPeriod} myTeams={me.data?.teams ?? []} />
        )}
      </Card>
    </section>
  );
}
