"use client";

import { motion } from "motion/react";
import type { Streak } from "@/protocol/documents";
import { Card, CardHeader } from "@/components/ui/Card";
import { EmptyState } from "@/components/ui/EmptyState";
import { LiveDot } from "@/components/ui/LiveDot";
import { Skeleton } from "@/components/ui/Skeleton";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { cn } from "@/components/ui/cn";
import { formatNumber } from "@/lib/format";
import { Pending } from "@/components/shell/Pending";

export interface StreaksCardProps {
  streaks: Record<string, Streak> | null;
  fresh: boolean;
}

export function StreaksCard({ streaks, fresh }: StreaksCardProps) {
  const entries = streaks ? Object.entries(streaks).sort(([, a], [, b]) => b.current - a.current || a.name.localeCompare(b.name)) : null;
  return (
    <Card aria-labelledby="streaks-title">
      <CardHeader id="streaks-title" title="Streaks" icon="🔥" aside={<LiveDot fresh={fresh} />} />
      {entries === null ? (
        <Pending
          what="your streaks"
          skeleton={
            <div className="space-y-3">
              <span className="sr-only">Loading streaks…</span>
              <Skeleton className="h-14" />
              <Skeleton className="h-14" />
            </div>
          }
        />
      ) : (
        <StaleOverlay fresh={fresh}>
          {entries.length === 0 ? (
            <EmptyState icon="🕯️" title="No streaks yet">
              Do something two days in a row to light one.
            </EmptyState>
          ) : (
            <ul className="space-y-2.5">
              {entries.map(([id, streak]) => (
                <StreakRow key={id} streak={streak} />
              ))}
            </ul>
          )}
        </StaleOverlay>
      )}
    </Card>
  );
}

function StreakRow({ streak }: { streak: Streak }) {
  const lit = streak.current > 0;
  const record = lit && streak.current >= streak.best;
  return (
    <li className="flex items-center gap-3 rounded-xl border border-white/8 bg-white/4 px-3 py-2.5 2xl:px-5 2xl:py-4">
      <span
        aria-hidden
        className={cn(
          "inline-flex size-10 shrink-0 items-center justify-center rounded-xl text-2xl 2xl:size-14 2xl:text-4xl",
          lit ? "bg-gradient-to-b from-orange-500/30 to-red-600/20 animate-flicker motion-reduce:animate-none" : "bg-white/5 grayscale",
        )}
      >
        🔥
      </span>
      <div className="min-w-0 flex-1">
        <p className="truncate font-semibold 2xl:text-xl">{streak.name}</p>
        <p className="text-xs text-fg-subtle 2xl:text-base">
          Best {formatNumber(streak.best)}
          {record ? <span className="ml-1 font-semibold text-xp">· personal best!</span> : null}
        </p>
      </div>
      <div className="text-right">
        <motion.p
          key={streak.current}
          initial={{ scale: 1.4, opacity: 0.4 }}
          animate={{ scale: 1, opacity: 1 }}
          transition={{ type: "spring", stiffness: 500, damping: 18 }}
          className={cn("text-2xl font-black tabular 2xl:text-4xl", lit ? "text-orange-300" : "text-fg-subtle")}
        >
          {formatNumber(streak.current)}
        </motion.p>
        <p className="text-[11px] text-fg-subtle 2xl:text-sm" title="Streak freezes: a missed day that keeps the streak">
          <span aria-hidden>❄️</span> {streak.freezes} {streak.freezes === 1 ? "freeze" : "freezes"}
        </p>
      </div>
    </li>
  );
}
