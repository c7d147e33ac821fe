// The list of team challenges: state, window, link to the live scoreboard.
"use client";

import Link from "next/link";
import { Card } from "@/components/ui/Card";
import { Pill, type PillTone } from "@/components/ui/Pill";
import { EmptyState, ErrorState, PageHeader, SkeletonRows } from "@/components/leaderboard/common";
import { STATE_LABEL } from "@/lib/challenge";
import { useApi } from "@/lib/hooks";
import { formatDateTime } from "@/lib/time";
import type { ChallengeDoc } from "@/protocol/documents";

export interface ChallengeDefinitionOut {
  id: string;
  name: string;
  description: string;
  metrics: string[];
  scoring: ChallengeDoc["scoring"];
  starts_at: string;
  ends_at: string;
  timezone: string;
  mode: ChallengeDoc["mode"];
  goal: number | null;
  teams: string[] | null;
  min_members: number;
  rewards: { rank: number; xp: number; badge: string | null }[];
  completion_reward: { xp: number; badge: string | null } | null;
  grace_seconds: number;
}

export interface ChallengeOut {
  definition: ChallengeDefinitionOut;
  state: ChallengeDoc["state"];
  version: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  results: Record<string, unknown> | null;
}

export const STATE_TONE: Record<ChallengeDoc["state"], PillTone> = {
  scheduled: "info",
  live: "success",
  closing: "warning",
  finished: "neutral",
};

const MODE_LABEL: Record<ChallengeDoc["mode"], string> = {
  highest: "Highest score wins",
  first_to_goal: "First to the goal",
  cooperative: "Everyone together",
};

const ORDER: Record<ChallengeDoc["state"], number> = { live: 0, closing: 1, scheduled: 2, finished: 3 };

export function ChallengeList() {
  const list = useApi<{ items: ChallengeOut[]; next_cursor: string | null }>("/challenges", { limit: 100 });
  const items = [...(list.data?.items ?? [])].sort(
    (a, b) => ORDER[a.state] - ORDER[b.state] || Date.parse(b.definition.starts_at) - Date.parse(a.definition.starts_at),
  );
  return (
    <section className="mx-auto w-full max-w-5xl space-y-5 2xl:max-w-7xl" aria-labelledby="challenges-title">
      <PageHeader title={<span id="challenges-title">Team challenges</span>} subtitle="Teams race on the metrics that matter — pick one to watch it live." />
      {list.error && !list.data ? (
        <ErrorState error={list.error} onRetry={list.reload} title="Could not load the challenges" />
      ) : !list.data ? (
        <SkeletonRows count={3} className="h-28" label="Loading challenges" />
      ) : items.length === 0 ? (
        <EmptyState title="No challenges yet">An admin can create one from the Admin page.</EmptyState>
      ) : (
        <ul className="grid gap-4 md:grid-cols-2">
          {items.map((c) => (
            <li key={c.definition.id}>
              <Card as="article" className="h-full transition-colors hover:border-accent/40">
                <div className="flex items-start justify-between gap-3">
                  <h2 className="min-w-0 text-lg font-semibold text-fg 2xl:text-2xl">
                    <Link
                      href={`/challenges/?id=${encodeURIComponent(c.definition.id)}`}
                      className="after:absolute after:inset-0 after:rounded-2xl focus-visible:outline-2 focus-visible:outline-accent-2"
                    >
                      {c.definition.name}
                    </Link>
                  </h2>
                  <Pill tone={STATE_TONE[c.state]} size="md">
                    {STATE_LABEL[c.state]}
                  </Pill>
                </div>
                {c.definition.description ? <p className="mt-2 text-sm text-fg-muted 2xl:text-lg">{c.definition.description}</p> : null}
                <dl className="mt-3 grid grid-cols-2 gap-x-4 gap-y-1 text-sm 2xl:text-base">
                  <dt className="text-fg-subtle">Starts</dt>
                  <dd className="text-fg">{formatDateTime(Date.parse(c.definition.starts_at), c.definition.timezone)}</dd>
                  <dt className="text-fg-subtle">Ends</dt>
                  <dd className="text-fg">{formatDateTime(Date.parse(c.definition.ends_at), c.definition.timezone)}</dd>
                  <dt className="text-fg-subtle">Mode</dt>
                  <dd className="text-fg">{MODE_LABEL[c.definition.mode]}</dd>
                  <dt className="text-fg-subtle">Teams</dt>
                  <dd className="text-fg">{c.definition.teams ? c.definition.teams.length : "All teams"}</dd>
                </dl>
              </Card>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
