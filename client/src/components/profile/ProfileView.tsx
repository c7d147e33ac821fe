// The profile: header (avatar, name, level, XP), badges, streaks, teams and — for one's own — the
// explained XP ledger. Own profile is live through the `user:{id}` topic.
"use client";

import Link from "next/link";
import { useEffect, useRef, type ReactNode } from "react";
import { Avatar } from "@/components/ui/Avatar";
import { Card, CardHeader } from "@/components/ui/Card";
import { LiveDot } from "@/components/ui/LiveDot";
import { ProgressBar } from "@/components/ui/ProgressBar";
import { CountUp, ErrorState, SkeletonRows } from "@/components/leaderboard/common";
import { ApiError } from "@/lib/api";
import { badgeTiles, earnedTiles, type BadgeTile } from "@/lib/badges";
import { useApi } from "@/lib/hooks";
import { formatNumber } from "@/lib/time";
import type { UserDoc } from "@/protocol/documents";
import { useTopic } from "@/stores/live";
import { BadgeGrid } from "./BadgeGrid";
import { Ledger } from "./Ledger";
import type { BadgeOut, CatalogueBadge, LevelOut, MeOut, ProfileOut, StreakOut } from "./types";

interface HeaderData {
  id: string;
  handle: string;
  displayName: string;
  level: LevelOut;
}

function Header({ data, live }: { data: HeaderData; live?: { fresh: boolean } }) {
  const { level } = data;
  const toNext = level.next_level_xp === null ? null : level.next_level_xp - level.xp;
  return (
    <Card glow padding="lg" className="flex flex-col gap-5 sm:flex-row sm:items-center">
      <Avatar id={data.id} name={data.displayName} size="xl" />
      <div className="min-w-0 flex-1">
        <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
          <h1 className="truncate text-2xl font-bold text-fg sm:text-3xl 2xl:text-5xl">{data.displayName}</h1>
          {live ? <LiveDot fresh={live.fresh} showLabel /> : null}
        </div>
        <p className="text-fg-subtle 2xl:text-xl">@{data.handle}</p>
        <div className="mt-3 flex flex-wrap items-baseline gap-x-6 gap-y-1">
          <p className="text-lg text-fg-muted 2xl:text-2xl">
            Level <strong className="text-3xl font-black text-accent-soft 2xl:text-5xl">{level.level}</strong>
          </p>
          <p className="text-lg text-fg-muted 2xl:text-2xl">
            <CountUp value={level.xp} className="text-3xl font-black text-xp-soft 2xl:text-5xl" /> XP
          </p>
        </div>
        <ProgressBar
          className="mt-3"
          progress={level.progress}
          tone="xp"
          size="md"
          label={`Progress to level ${level.level + 1}`}
          valueText={toNext === null ? "Top level" : `${formatNumber(toNext)} XP to level ${level.level + 1}`}
        />
        <p className="mt-1 text-xs text-fg-subtle 2xl:text-base">
          {toNext === null ? "Top level reached" : `${formatNumber(toNext)} XP to level ${level.level + 1}`}
        </p>
      </div>
    </Card>
  );
}

function Streaks({ streaks }: { streaks: readonly StreakOut[] }) {
  if (streaks.length === 0) return <p className="text-fg-muted">No streaks in the current rules.</p>;
  return (
    <ul className="grid gap-3 sm:grid-cols-2">
      {streaks.map((s) => (
        <li key={s.streak_id} className="flex items-center gap-3 rounded-xl border border-white/8 bg-white/[0.03] p-3">
          <span aria-hidden className={`text-3xl ${s.current > 0 ? "animate-flicker motion-reduce:animate-none" : "grayscale"}`}>
            🔥
          </span>
          <span className="min-w-0">
            <span className="block font-semibold text-fg 2xl:text-xl">{s.name}</span>
            <span className="block text-sm text-fg-muted 2xl:text-lg">
              <strong className="text-fg">{s.current}</strong> day{s.current === 1 ? "" : "s"} now · best {s.best} · {s.freezes} freeze{s.freezes === 1 ? "" : "s"}
            </span>
          </span>
        </li>
      ))}
    </ul>
  );
}

/** The teams by name (the profile lists slugs; GET /teams has the names), the slug until they came. */
function Teams({ teams }: { teams: readonly string[] }) {
  const list = useApi<{ items: { slug: string; name: string }[] }>(teams.length > 0 ? "/teams" : null, { limit: 200 });
  const names = new Map(list.data?.items.map((t) => [t.slug, t.name]) ?? []);
  if (teams.length === 0) return <p className="text-fg-muted">Not in a team yet.</p>;
  return (
    <ul className="flex flex-wrap gap-2">
      {teams.map((slug) => (
        <li key={slug} data-testid="profile-team" data-team={slug}>
          <Link
            href="/leaderboards/"
            className="inline-block rounded-full border border-accent/40 bg-accent/10 px-3 py-1 text-sm text-accent-soft hover:bg-accent/20 focus-visible:outline-2 focus-visible:outline-accent-2 2xl:text-lg"
          >
            {names.get(slug) ?? slug}
          </Link>
        </li>
      ))}
    </ul>
  );
}

function Layout({ header, badges, streaks, teams, ledger }: { header: ReactNode; badges: ReactNode; streaks: ReactNode; teams: ReactNode; ledger?: ReactNode }) {
  return (
    <section className="mx-auto w-full max-w-5xl space-y-5 2xl:max-w-7xl">
      {header}
      <Card>
        <CardHeader title="Badges" />
        {badges}
      </Card>
      <div className="grid gap-5 md:grid-cols-[2fr_1fr]">
        <Card>
          <CardHeader title="Streaks" />
          {streaks}
        </Card>
        <Card>
          <CardHeader title="Teams" />
          {teams}
        </Card>
      </div>
      {ledger ? (
        <Card>
          <CardHeader title="XP history" />
          {ledger}
        </Card>
      ) : null}
    </section>
  );
}

function liveBadges(doc: UserDoc | null, fallback: readonly BadgeOut[]): BadgeOut[] {
  if (!doc) return [...fallback];
  return Object.values(doc.badges).map((b) => ({
    badge_id: b.badge_id,
    name: b.name,
    tier: b.tier,
    period: b.period,
    secret: b.secret,
    earned_at: new Date(b.earned_at_ms).toISOString(),
    explanation: b.explanation,
    summary: b.summary ?? null,
  }));
}

export function OwnProfile({ userId }: { userId: string }) {
  const me = useApi<MeOut>("/me");
  const catalogue = useApi<{ rule_version: number; badges: CatalogueBadge[] }>("/badges");
  const view = useTopic<UserDoc>(`user:${userId}`);
  const doc = view.doc;

  // The catalogue's earned lists come from the HTTP read; refetch it when the live doc gains a badge.
  const badgeCount = doc ? Object.keys(doc.badges).length : null;
  const { reload: reloadCatalogue } = catalogue;
  useBadgeCountChange(badgeCount, reloadCatalogue);

  if (me.error && !me.data) return <ErrorState error={me.error} onRetry={me.reload} title="Could not load your profile" />;
  if (!me.data) return <SkeletonRows count={4} className="h-32" label="Loading your profile" />;

  const level: LevelOut = doc
    ? { level: doc.level, xp: doc.xp, level_xp: doc.level_xp, next_level_xp: doc.next_level_xp, progress: doc.progress }
    : me.data.level;
  const earned = liveBadges(doc, me.data.badges);
  const tiles: BadgeTile[] = catalogue.data ? badgeTiles(catalogue.data.badges, earned) : [];
  const streaks: StreakOut[] = doc
    ? Object.entries(doc.streaks).map(([id, s]) => ({ streak_id: id, ...s }))
    : me.data.streaks;

  return (
    <Layout
      header={<Header data={{ id: me.data.user.id, handle: me.data.user.handle, displayName: doc?.display_name ?? me.data.user.display_name, level }} live={{ fresh: view.fresh }} />}
      badges={
        catalogue.error && !catalogue.data ? (
          <ErrorState error={catalogue.error} onRetry={catalogue.reload} title="Could not load the badges" />
        ) : !catalogue.data ? (
          <SkeletonRows count={2} className="h-36" label="Loading badges" />
        ) : (
          <BadgeGrid tiles={tiles} />
        )
      }
      streaks={<Streaks streaks={streaks} />}
      teams={<Teams teams={me.data.teams} />}
      ledger={<Ledger liveOffset={view.offset} />}
    />
  );
}


function useBadgeCountChange(count: number | null, onChange: () => void) {
  const last = useRef<number | null>(null);
  useEffect(() => {
    if (count === null) return;
    if (last.current !== null && last.current !== count) onChange();
    last.current = count;
  }, [count, onChange]);
}

export function PublicProfile({ handle }: { handle: string }) {
  const profile = useApi<ProfileOut>(`/users/${encodeURIComponent(handle)}`);
  if (profile.error && !profile.data) {
    const notFound = profile.error instanceof ApiError && profile.error.status === 404;
    return (
      <section className="mx-auto w-full max-w-3xl">
        <ErrorState
          error={notFound ? new Error(`Nobody is called @${handle}.`) : profile.error}
          onRetry={notFound ? undefined : profile.reload}
          title={notFound ? "No such player" : "Could not load this profile"}
        />
      </section>
    );
  }
  if (!profile.data) return <SkeletonRows count={4} className="h-32" label="Loading the profile" />;
  const p = profile.data;
  return (
    <Layout
      header={<Header data={{ id: p.handle, handle: p.handle, displayName: p.display_name, level: p.level }} />}
      badges={<BadgeGrid tiles={earnedTiles(p.badges)} />}
      streaks={<Streaks streaks={p.streaks} />}
      teams={<Teams teams={p.teams} />}
    />
  );
}
