"use client";

import { useSearchParams } from "next/navigation";
import { Suspense } from "react";
import { ChallengeBoard } from "@/components/challenge/ChallengeBoard";
import { ChallengeList } from "@/components/challenge/ChallengeList";
import { SkeletonRows } from "@/components/leaderboard/common";
import { useHydrated } from "@/lib/hooks";
import { useSession } from "@/stores/session";

function ChallengesContent() {
  const id = useSearchParams().get("id");
  const hydrated = useHydrated();
  const account = useSession((s) => s.account);
  if (!hydrated || !account) return <SkeletonRows count={3} className="h-24" label="Loading" />;
  return id ? <ChallengeBoard key={id} id={id} /> : <ChallengeList />;
}

export default function ChallengesPage() {
  return (
    <Suspense fallback={<SkeletonRows count={3} className="h-24" label="Loading" />}>
      <ChallengesContent />
    </Suspense>
  );
}
