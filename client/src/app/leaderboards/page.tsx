"use client";

import { LeaderboardsView } from "@/components/leaderboard/LeaderboardsView";

export default function LeaderboardsPage() {
  return <LeaderboardsView />;
}
