"use client";

import { AnimatePresence, motion } from "motion/react";
import type { Mission } from "@/protocol/documents";
import { Card, CardHeader } from "@/components/ui/Card";
import { EmptyState } from "@/components/ui/EmptyState";
import { LiveDot } from "@/components/ui/LiveDot";
import { Pill } from "@/components/ui/Pill";
import { ProgressBar } from "@/components/ui/ProgressBar";
import { Skeleton } from "@/components/ui/Skeleton";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { cn } from "@/components/ui/cn";
import { formatNumber, formatPeriod } from "@/lib/format";
import { Pending } from "@/components/shell/Pending";

export interface MissionsCardProps {
  missions: Record<string, Mission> | null;
  fresh: boolean;
}

/** Open missions first (closest to done on top), completed ones after. */
export function sortMissions(missions: Record<string, Mission>): Array<[string, Mission]> {
  const ratio = (m: Mission) => (m.goal > 0 ? m.progress / m.goal : 0);
  return Object.entries(missions).sort(([, a], [, b]) => Number(a.completed) - Number(b.completed) || ratio(b) - ratio(a) || a.name.localeCompare(b.name));
}

export function MissionsCard({ missions, fresh }: MissionsCardProps) {
  const entries = missions ? sortMissions(missions) : null;
  const done = entries?.filter(([, m]) => m.completed).length ?? 0;
  const today = new Date().toISOString().slice(0, 10);
  return (
    <Card aria-labelledby="missions-title">
      <CardHeader
        id="missions-title"
        title="Missions"
        icon="🎯"
        aside={
          <>
            {entries && entries.length > 0 ? (
              <Pill tone={done === entries.length ? "success" : "neutral"}>
                {done}/{entries.length} done
              </Pill>
            ) : null}
            <LiveDot fresh={fresh} />
          </>
        }
      />
      {entries === null ? (
        <Pending
          what="your missions"
          skeleton={
            <div className="space-y-3">
              <span className="sr-only">Loading missions…</span>
              <Skeleton className="h-16" />
              <Skeleton className="h-16" />
            </div>
          }
        />
      ) : (
        <StaleOverlay fresh={fresh}>
          {entries.length === 0 ? (
            <EmptyState icon="🗺️" title="No missions right now">
              New ones start with the next period.
            </EmptyState>
          ) : (
            <ul className="space-y-2.5">
              <AnimatePresence initial={false}>
                {entries.map(([key, m]) => (
                  <motion.li
                    key={key}
                    layout
                    initial={{ opacity: 0, scale: 0.97 }}
                    animate={{ opacity: 1, scale: 1 }}
                    exit={{ opacity: 0, scale: 0.97 }}
                    className={cn(
                      "rounded-xl border px-3 py-2.5 2xl:px-5 2xl:py-4",
                      m.completed ? "border-success/30 bg-success/8" : "border-white/8 bg-white/4",
                    )}
                  >
                    <div className="flex items-start gap-2">
                      <span
                        aria-hidden
                        className={cn(
                          "mt-0.5 inline-flex size-5 shrink-0 items-center justify-center rounded-full text-xs font-bold 2xl:size-7 2xl:text-base",
                          m.completed ? "bg-success text-ink-950" : "border border-white/25",
                        )}
                      >
                        {m.completed ? "✓" : ""}
                      </span>
                      <div className="min-w-0 flex-1">
                        <p className={cn("font-medium break-words 2xl:text-xl", m.completed && "text-success-soft")}>
                          {m.name}
                          {m.completed ? <span className="sr-only"> (completed)</span> : null}
                        </p>
                        <div className="mt-1 flex flex-wrap items-center gap-1.5">
                          <Pill>{formatPeriod(m.period, today)}</Pill>
                          <Pill tone="xp">+{formatNumber(m.reward_xp)} XP</Pill>
                        </div>
                      </div>
                      <span className="shrink-0 text-sm font-semibold tabular text-fg-muted 2xl:text-lg">
                        {formatNumber(Math.min(m.progress, m.goal))}/{formatNumber(m.goal)}
                      </span>
                    </div>
                    <ProgressBar
                      className="mt-2.5"
                      size="sm"
                      tone={m.completed ? "success" : "accent"}
                      label={`${m.name}: progress`}
                      progress={m.goal > 0 ? m.progress / m.goal : 0}
                      value={Math.min(m.progress, m.goal)}
                      min={0}
                      max={m.goal}
                    />
                  </motion.li>
                ))}
              </AnimatePresence>
            </ul>
          )}
        </StaleOverlay>
      )}
    </Card>
  );
}
