"use client";

import type { ReactNode } from "react";
import { isDown } from "@/lib/connection";
import { useConnectionView } from "./useConnectionView";

export interface PendingProps {
  /** What is missing, for the sentence: "your level", "the leaderboard". */
  what: string;
  /** Shown while the first connection is under way. */
  skeleton: ReactNode;
  className?: string;
}

/**
 * Stands where live data has not arrived yet: the skeleton while connecting, but never a skeleton
 * forever: while gamif cannot be reached (the banner says so and counts down to the retry), it says that
 * this part will show up once the connection is back.
 */
export function Pending({ what, skeleton, className }: PendingProps) {
  const { kind } = useConnectionView();
  if (!isDown(kind)) return <>{skeleton}</>;
  return (
    <p data-testid="unavailable" className={className ?? "rounded-xl border border-dashed border-white/15 px-4 py-3 text-sm text-fg-muted 2xl:text-lg"}>
      {kind === "offline" ? `You're offline: ${what} will show up when your network is back.` : `Can't load ${what} right now: it will show up as soon as gamif is back.`}
    </p>
  );
}
