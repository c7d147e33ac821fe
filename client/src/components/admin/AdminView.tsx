// The Admin page: for admins only (a friendly 403 otherwise), four tabs.
"use client";

import Link from "next/link";
import { useId, useState } from "react";
import { Card } from "@/components/ui/Card";
import { PageHeader, SkeletonRows, Tabs, type TabItem } from "@/components/leaderboard/common";
import { useHydrated } from "@/lib/hooks";
import { useSession } from "@/stores/session";
import { AnnouncementsAdmin } from "./AnnouncementsAdmin";
import { ChallengesAdmin } from "./ChallengesAdmin";
import { RulesAdmin } from "./RulesAdmin";
import { TeamsAdmin } from "./TeamsAdmin";

type Tab = "teams" | "challenges" | "rules" | "announcements";

const TABS: readonly TabItem<Tab>[] = [
  { key: "teams", label: "Teams" },
  { key: "challenges", label: "Challenges" },
  { key: "rules", label: "Rules" },
  { key: "announcements", label: "Announcements" },
];

export function AdminView() {
  const hydrated = useHydrated();
  const account = useSession((s) => s.account);
  const [tab, setTab] = useState<Tab>("teams");
  const panel = useId();
  if (!hydrated || !account) return <SkeletonRows count={3} className="h-24" label="Loading" />;
  if (account.role !== "admin") {
    return (
      <section className="mx-auto max-w-xl" aria-labelledby="forbidden-title">
        <Card padding="lg" className="text-center" data-testid="admin-forbidden">
          <p aria-hidden className="text-5xl">🔐</p>
          <h1 id="forbidden-title" className="mt-3 text-2xl font-bold text-fg">
            Admins only
          </h1>
          <p className="mt-2 text-fg-muted">
            This page manages teams, challenges, rules and announcements. Ask an admin of your organisation if you need something changed.
          </p>
          <Link href="/" className="mt-4 inline-block text-accent-soft hover:underline focus-visible:outline-2 focus-visible:outline-accent-2">
            Back to the dashboard
          </Link>
        </Card>
      </section>
    );
  }
  return (
    <section className="mx-auto w-full max-w-6xl space-y-5 2xl:max-w-[110rem]" aria-labelledby="admin-title">
      <PageHeader title={<span id="admin-title">Admin</span>} subtitle="Teams, challenges, rules and announcements." />
      <Tabs<Tab> items={TABS} value={tab} onChange={setTab} label="Admin sections" controls={panel} />
      <div id={panel} role="tabpanel" aria-label={TABS.find((t) => t.key === tab)?.label as string}>
        {tab === "teams" ? <TeamsAdmin /> : tab === "challenges" ? <ChallengesAdmin /> : tab === "rules" ? <RulesAdmin /> : <AnnouncementsAdmin />}
      </div>
    </section>
  );
}
