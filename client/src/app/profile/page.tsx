"use client";

import { useSearchParams } from "next/navigation";
import { Suspense } from "react";
import { SkeletonRows } from "@/components/leaderboard/common";
import { OwnProfile, PublicProfile } from "@/components/profile/ProfileView";
import { useHydrated } from "@/lib/hooks";
import { useSession } from "@/stores/session";

function ProfileContent() {
  const handle = useSearchParams().get("handle");
  const hydrated = useHydrated();
  const account = useSession((s) => s.account);
  if (!hydrated || !account) return <SkeletonRows count={4} className="h-32" label="Loading the profile" />;
  if (handle && handle !== account.handle) return <PublicProfile key={handle} handle={handle} />;
  return <OwnProfile userId={account.id} />;
}

export default function ProfilePage() {
  return (
    <Suspense fallback={<SkeletonRows count={4} className="h-32" label="Loading the profile" />}>
      <ProfileContent />
    </Suspense>
  );
}
