// One challenge's live scoreboard (`challenge:{id}`): race bars, time left ticking on the client clock,
// contributions, the cooperative total, and the finish celebration.
"use client";

import Link from "next/link";
import { useCallback, useEffect, useRef, useState } from "react";
import { Card } from "@/components/ui/Card";
import { LiveDot } from "@/components/ui/LiveDot";
import { Pill } from "@/components/ui/Pill";
import { ProgressBar } from "@/components/ui/ProgressBar";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { ErrorState, PageHeader, SkeletonRows } from "@/components/leaderboard/common";
import { metricLabel } from "@/components/leaderboard/LeaderboardsView";
import { justFinished, leaderLine, raceLanes, STATE_LABEL } from "@/lib/challenge";
import { useNow } from "@/lib/hooks";
import { formatDateTime, formatDuration, formatNumber, formatTimeLeft } from "@/lib/time";
import type { ChallengeDoc, ChallengeResults, ServerEvent } from "@/protocol";
import { useServerEvents, useTopic } from "@/stores/live";
import { Celebration } from "./Celebration";
import { RaceLanes } from "./RaceLanes";
import { STATE_TONE } from "./ChallengeList";
import { Pending } from "@/components/shell/Pending";

function timeLine(doc: ChallengeDoc, now: number): string {
  switch (doc.state) {
    case "scheduled":
      return doc.starts_at_ms > now ? `starts in ${formatDuration(doc.starts_at_ms - now)}` : "starting…";
    case "live":
      return formatTimeLeft(doc.ends_at_ms, now);
    case "closing":
      return doc.closes_at_ms > now ? `ended · late events count for ${formatDuration(doc.closes_at_ms - now)}` : "ended · finalising";
    case "finished":
      return "finished";
  }
}

export function ChallengeBoard({ id }: { id: string }) {
  const view = useTopic<ChallengeDoc>(`challenge:${id}`);
  const doc = view.doc;
  const now = useNow(1000);
  const [burst, setBurst] = useState(false);
  const [eventResults, setEventResults] = useState<ChallengeResults | null>(null);
  const previous = useRef<ChallengeDoc | null>(null);

  useEffect(() => {
    if (justFinished(previous.current, doc)) setBurst(true);
    previous.current = doc;
  }, [doc]);

  useEffect(() => {
    if (!burst) return undefined;
    const timer = setTimeout(() => setBurst(false), 4000);
    return () => clearTimeout(timer);
  }, [burst]);

  const onEvent = useCallback(
    (event: ServerEvent) => {
      if (event.name !== "challenge_finished") return;
      const data = event.data as ServerEvent<"challenge_finished">["data"];
      if (data.challenge_id !== id) return;
      setEventResults(data.results);
      setBurst(true);
    },
    [id],
  );
  useServerEvents(onEvent);

  const back = (
    <Link href="/challenges/" className="text-sm text-accent-soft hover:underline focus-visible:outline-2 focus-visible:outline-accent-2 2xl:text-lg">
      ← All challenges
    </Link>
  );

  if (view.error && !doc) {
    return (
      <section className="mx-auto w-full max-w-5xl space-y-4">
        {back}
        <ErrorState
          title="Challenge unavailable"
          error={new Error(view.error === "unknown_topic" ? `There is no challenge "${id}".` : `The hub refused this scoreboard (${view.error}).`)}
        />
      </section>
    );
  }
  if (!doc) {
    return (
      <section className="mx-auto w-full max-w-5xl space-y-4" aria-busy="true">
        {back}
        <Pending what="the scoreboard" skeleton={<SkeletonRows count={4} className="h-24" label="Loading the scoreboard" />} />
      </section>
    );
  }

  const lanes = raceLanes(doc);
  const results = doc.results ?? eventResults;
  const finished = doc.state === "finished" || eventResults !== null;
  const unit = doc.scoring === "points" ? "XP" : doc.metrics.length === 1 ? metricLabel(doc.metrics[0] ?? "") : "points";

  return (
    <section className="mx-auto w-full max-w-5xl space-y-5 2xl:max-w-[110rem]" aria-labelledby="challenge-title">
      {back}
      <PageHeader
        title={<span id="challenge-title">{doc.name}</span>}
        subtitle={doc.description || `${doc.metrics.map((metric) => metricLabel(metric)).join(" + ")} · ${doc.scoring.replace(/_/g, " ")}`}
      >
        <div className="flex flex-col items-end gap-1">
          <Pill tone={STATE_TONE[doc.state]} size="md">
            {STATE_LABEL[doc.state]}
          </Pill>
          <LiveDot fresh={view.fresh} />
        </div>
      </PageHeader>

      <Card padding="md" className="grid gap-3 sm:grid-cols-[1fr_auto] sm:items-center">
        <p aria-live="polite" className="text-lg font-semibold text-fg sm:text-xl 2xl:text-4xl" data-testid="challenge-leader">
          {leaderLine(doc)}
        </p>
        <div className="text-left sm:text-right">
          <p data-testid="challenge-time-left" className="text-2xl font-black tabular-nums text-accent-2-soft 2xl:text-5xl">
            {now === null ? "—" : timeLine(doc, now)}
          </p>
          <p className="text-xs text-fg-subtle 2xl:text-base">
            {formatDateTime(doc.starts_at_ms, doc.timezone)} → {formatDateTime(doc.ends_at_ms, doc.timezone)} ({doc.timezone})
          </p>
        </div>
      </Card>

      {finished && results ? <Celebration doc={doc} results={results} burst={burst} /> : null}

      {doc.mode === "cooperative" && doc.combined ? (
        <Card padding="md">
          <div className="mb-2 flex items-baseline justify-between gap-2">
            <h2 className="font-semibold text-fg 2xl:text-3xl">Together</h2>
            <span className="tabular-nums text-fg-muted 2xl:text-2xl">
              {formatNumber(doc.combined.score)} / {formatNumber(doc.combined.goal)}
            </span>
          </div>
          <ProgressBar
            progress={doc.combined.progress}
            label="Combined progress toward the goal"
            tone={doc.combined.achieved ? "success" : "xp"}
            size="lg"
            valueText={`${Math.round(Math.min(1, doc.combined.progress) * 100)}%`}
          />
        </Card>
      ) : null}

      <StaleOverlay fresh={view.fresh}>
        {lanes.length === 0 ? (
          <p className="rounded-xl border border-dashed border-white/15 p-6 text-center text-fg-muted">No teams take part yet.</p>
        ) : (
          <RaceLanesSection doc={doc} unit={unit} lanes={lanes} />
        )}
      </StaleOverlay>
    </section>
  );
}

function RaceLanesSection({ doc, unit, lanes }: { doc: ChallengeDoc; unit: string; lanes: ReturnType<typeof raceLanes> }) {
  return (
    <div>
      <p className="mb-2 text-xs text-fg-subtle 2xl:text-base">
        {doc.goal ? `Bars fill toward the goal of ${formatNumber(doc.goal)}.` : "Bars are relative to the leader."}
        {doc.state === "live" ? " The faint bar and marker show where each team ends at its current pace." : ""}
      </p>
      <RaceLanes lanes={lanes} goal={doc.goal} unit={unit} showProjection={doc.state === "live"} />
    </div>
  );
}

