"use client";

import { useEffect, useState } from "react";
import type { ActivityDoc, PresenceDoc, UserDoc } from "@/protocol/documents";
import type { Account } from "@/stores/session";
import { Card, CardHeader } from "@/components/ui/Card";
import { EmptyState } from "@/components/ui/EmptyState";
import { Pill } from "@/components/ui/Pill";
import { Skeleton } from "@/components/ui/Skeleton";
import { api, ApiError } from "@/lib/api";
import { problemMessage } from "@/lib/forms";
import { formatNumber } from "@/lib/format";
import { useAwards } from "@/stores/awards";
import { useConnection, useTopic } from "@/stores/live";
import { ActivityFeed } from "./ActivityFeed";
import { BadgesStrip } from "./BadgesStrip";
import { LevelCard } from "./LevelCard";
import { MissionsCard } from "./MissionsCard";
import { StreaksCard } from "./StreaksCard";
import { TeamOnline } from "./TeamOnline";
import { ledgerToAwards, meToUserDoc, type LedgerItem, type MeResponse } from "./me";

interface MeState {
  me: MeResponse | null;
  /** What to say about a failure (null when the banner says it already). */
  error: string | null;
  failed: boolean;
}

/** GET /me (teams, a last-known user document) and the last ledger lines (seeding "Latest XP"): once, and
 * again when it failed and the live connection comes back. */
function useMe(): MeState {
  const [state, setState] = useState<MeState>({ me: null, error: null, failed: false });
  const [attempt, setAttempt] = useState(0);
  const seedRecent = useAwards((s) => s.seedRecent);
  const live = useConnection().state === "live";
  const failed = state.failed;
  useEffect(() => {
    if (live && failed) setAttempt((n) => n + 1);
    // Only the connection coming back retries (not the failure itself: that would loop).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live]);
  useEffect(() => {
    const abort = new AbortController();
    api<MeResponse>("/me", { signal: abort.signal })
      .then((me) => setState({ me, error: null, failed: false }))
      .catch((error: unknown) => {
        if (abort.signal.aborted) return;
        // Unreachable is the connection banner's to say (once); other failures are this page's.
        const message = error instanceof ApiError ? (error.status === 0 ? null : problemMessage(error)) : "Could not load your profile.";
        setState({ me: null, error: message, failed: true });
      });
    api<{ items: LedgerItem[] }>("/me/ledger", { query: { limit: 5 }, signal: abort.signal })
      .then((page) => seedRecent(ledgerToAwards(page.items)))
      .catch(() => undefined);
    return () => abort.abort();
  }, [seedRecent, attempt]);
  return state;
}

export function Dashboard({ account }: { account: Account }) {
  const user = useTopic<UserDoc>(`user:${account.id}`);
  const activity = useTopic<ActivityDoc>("activity:global");
  const globalPresence = useTopic<PresenceDoc>("presence:global");
  const { me, error, failed } = useMe();

  // The live document once it came; until then the HTTP copy, shown as not live.
  const doc = user.doc ?? (me ? meToUserDoc(me) : null);
  const fresh = user.doc !== null && user.fresh;
  const teams = me?.teams ?? null;
  const firstName = account.display_name.split(/\s+/)[0] ?? account.display_name;

  return (
    <div className="flex flex-col gap-4 sm:gap-6 2xl:gap-8">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <div className="min-w-0">
          <h1 className="text-2xl font-black tracking-tight sm:text-3xl 2xl:text-5xl">
            Hi, <span className="text-gradient">{firstName}</span> <span aria-hidden>👋</span>
          </h1>
          <p className="text-sm text-fg-muted 2xl:text-xl">Here is your progress, live.</p>
        </div>
        {globalPresence.doc ? (
          <Pill tone="success" size="md" data-testid="global-online" className={globalPresence.fresh ? "" : "opacity-60"}>
            <span aria-hidden className="inline-block size-2 rounded-full bg-success" />
            {formatNumber(globalPresence.doc.count)} online
            {globalPresence.fresh ? null : <span className="sr-only"> (last known)</span>}
          </Pill>
        ) : null}
      </div>

      {error && !user.doc ? (
        <p role="alert" className="rounded-xl border border-danger/40 bg-danger/10 px-4 py-2 text-sm text-danger-soft">
          {error}
        </p>
      ) : null}

      <div className="grid min-w-0 grid-cols-1 gap-4 sm:gap-6 lg:grid-cols-3 2xl:gap-8">
        <div className="flex min-w-0 flex-col gap-4 sm:gap-6 lg:col-span-2 2xl:gap-8">
          <LevelCard doc={doc} fresh={fresh} />
          <div className="grid min-w-0 grid-cols-1 gap-4 sm:gap-6 md:grid-cols-2 2xl:gap-8">
            <MissionsCard missions={doc?.missions ?? null} fresh={fresh} />
            <StreaksCard streaks={doc?.streaks ?? null} fresh={fresh} />
          </div>
          <BadgesStrip badges={doc?.badges ?? null} fresh={fresh} />
        </div>
        <div className="flex min-w-0 flex-col gap-4 sm:gap-6 2xl:gap-8">
          <Card aria-labelledby="team-title">
            <CardHeader id="team-title" title="Online in my teams" icon="🟢" />
            {teams === null ? (
              failed ? (
                <p className="text-sm text-fg-muted">Teams are unavailable right now.</p>
              ) : (
                <div className="flex gap-2">
                  <span className="sr-only">Loading your teams…</span>
                  <Skeleton circle className="size-10" />
                  <Skeleton circle className="size-10" />
                  <Skeleton circle className="size-10" />
                </div>
              )
            ) : teams.length === 0 ? (
              <EmptyState icon="🤝" title="You are not in a team yet" />
            ) : (
              <div className="flex flex-col gap-5">
                {teams.map((slug) => (
                  <TeamOnline key={slug} slug={slug} />
                ))}
              </div>
            )}
          </Card>
          <ActivityFeed view={activity} userId={account.id} />
        </div>
      </div>
    </div>
  );
}
