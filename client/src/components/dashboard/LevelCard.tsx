"use client";

import { AnimatePresence, motion } from "motion/react";
import type { ReactNode } from "react";
import type { UserDoc } from "@/protocol/documents";
import { AnimatedNumber } from "@/components/ui/AnimatedNumber";
import { Avatar } from "@/components/ui/Avatar";
import { Card } from "@/components/ui/Card";
import { LiveDot } from "@/components/ui/LiveDot";
import { ProgressBar } from "@/components/ui/ProgressBar";
import { Skeleton } from "@/components/ui/Skeleton";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { cn } from "@/components/ui/cn";
import { Disclosure } from "@/components/ui/Disclosure";
import { ruleLabel } from "@/lib/awards";
import { formatNumber, formatPercent, formatXpDelta } from "@/lib/format";
import { useAwards } from "@/stores/awards";
import { XpFloaters } from "./XpFloaters";
import { Pending } from "@/components/shell/Pending";

export interface LevelCardProps {
  doc: UserDoc | null;
  fresh: boolean;
}

/** Level, name, the XP bar (with floaters) and the last awards, each explained. */
export function LevelCard({ doc, fresh }: LevelCardProps) {
  const liveDot = <LiveDot fresh={fresh} showLabel />;
  const recent = useAwards((s) => s.recent);
  return (
    <Card glow aria-labelledby="level-title" className="overflow-visible">
      <div aria-hidden className="pointer-events-none absolute inset-0 overflow-hidden rounded-2xl">
        <div className="absolute -top-24 -right-16 size-64 rounded-full bg-accent/20 blur-3xl" />
        <div className="absolute -bottom-28 left-10 size-56 rounded-full bg-xp/10 blur-3xl" />
      </div>
      <h2 id="level-title" className="sr-only">
        Your level
      </h2>
      {doc ? (
        <StaleOverlay fresh={fresh}>
          <LevelBody doc={doc} liveDot={liveDot} />
        </StaleOverlay>
      ) : (
        <Pending
          what="your level"
          skeleton={
            <div className="flex flex-col gap-4" aria-busy="true">
              <span className="sr-only">Loading your level…</span>
              <div className="flex items-center gap-4">
                <Skeleton circle className="size-16" />
                <div className="flex-1 space-y-2">
                  <Skeleton className="h-6 w-40" />
                  <Skeleton className="h-4 w-24" />
                </div>
              </div>
              <Skeleton className="h-5 w-full rounded-full" />
              <Skeleton className="h-4 w-48" />
            </div>
          }
        />
      )}
      <RecentAwards awards={recent} />
    </Card>
  );
}

function LevelBody({ doc, liveDot }: { doc: UserDoc; liveDot: ReactNode }) {
  const next = doc.next_level_xp;
  const toNext = next === null ? 0 : Math.max(0, next - doc.xp);
  return (
    <div className="relative">
      <div className="flex flex-wrap items-center gap-4 2xl:gap-6">
        <div className="relative">
          <Avatar id={doc.user_id} name={doc.display_name} size="lg" decorative />
          <motion.span
            key={doc.level}
            initial={{ scale: 0.4, opacity: 0 }}
            animate={{ scale: 1, opacity: 1 }}
            transition={{ type: "spring", stiffness: 400, damping: 15 }}
            className="absolute -right-2 -bottom-2 inline-flex min-w-7 items-center justify-center rounded-full bg-xp-gradient px-1.5 text-sm font-black text-ink-950 shadow-glow-xp ring-2 ring-ink-900 2xl:min-w-9 2xl:text-lg"
            aria-hidden
          >
            {doc.level}
          </motion.span>
        </div>
        <div className="min-w-0 flex-1">
          <p className="flex min-w-0 items-center gap-3 text-lg font-semibold text-fg-muted 2xl:text-2xl">
            <span className="truncate">{doc.display_name}</span>
            {liveDot}
          </p>
          <p data-testid="level-title" className="text-3xl font-black tracking-tight sm:text-4xl 2xl:text-6xl">
            Level <span className="text-gradient">{doc.level}</span>
          </p>
        </div>
        <div className="text-right">
          <p className="text-xs font-semibold tracking-wider text-fg-subtle uppercase 2xl:text-base">Total XP</p>
          <p className="text-2xl font-black text-xp tabular sm:text-3xl 2xl:text-5xl">
            <AnimatedNumber value={doc.xp} data-testid="xp-total" />
          </p>
        </div>
      </div>

      <div className="relative mt-6 2xl:mt-10">
        <ProgressBar
          key={doc.level}
          data-testid="xp-bar"
          label={`XP toward level ${doc.level + 1}`}
          progress={next === null ? 1 : doc.progress}
          value={doc.xp}
          min={doc.level_xp}
          max={next ?? doc.xp}
          valueText={`${formatNumber(doc.xp)} XP, ${formatPercent(doc.progress)} of the way to level ${doc.level + 1}`}
          tone="xp"
          size="lg"
        >
          <XpFloaters />
        </ProgressBar>
        <div className="mt-2 flex flex-wrap justify-between gap-x-4 gap-y-1 text-sm text-fg-muted 2xl:text-lg">
          <span>
            {next === null ? (
              "Top level reached — legendary!"
            ) : (
              <>
                <strong className="font-bold text-fg tabular">{formatNumber(toNext)} XP</strong> to level {doc.level + 1}
              </>
            )}
          </span>
          <span className="tabular text-fg-subtle">
            {formatNumber(doc.xp - doc.level_xp)} / {next === null ? "—" : formatNumber(next - doc.level_xp)}
          </span>
        </div>
      </div>
    </div>
  );
}

function RecentAwards({ awards }: { awards: ReturnType<typeof useAwards.getState>["recent"] }) {
  if (awards.length === 0) return null;
  return (
    <div className="mt-5 border-t border-white/8 pt-4 2xl:mt-8 2xl:pt-6">
      <h3 className="mb-2 text-xs font-semibold tracking-wider text-fg-subtle uppercase 2xl:text-base">Latest XP</h3>
      {/* Rows stay in the flow: a new row fades in at the top (no sliding, no exit animation), so rows
          never overlap one another mid-animation. */}
      <ul className="space-y-1.5" data-testid="recent-awards">
        <AnimatePresence initial={false}>
          {awards.map((a) => (
            <motion.li
              key={a.id}
              data-testid="recent-award"
              initial={{ opacity: 0 }}
              animate={{ opacity: 1 }}
              transition={{ duration: 0.3 }}
              className="flex min-w-0 items-baseline gap-2 text-sm 2xl:text-lg"
            >
              <span className={cn("shrink-0 font-bold tabular", a.amount < 0 ? "text-warn-soft" : "text-xp")}>{formatXpDelta(a.amount)}</span>
              <Disclosure
                label={a.summary || a.ruleId}
                summaryClassName="text-sm font-normal text-fg-muted 2xl:text-lg"
                className="flex-1"
              >
                <span className="mt-0.5 block break-words text-xs text-fg-subtle 2xl:text-sm">
                  {a.explanation ? `${a.explanation} · ` : ""}
                  <span className="font-mono">{ruleLabel(a.ruleId, a.ruleVersion)}</span>
                </span>
              </Disclosure>
            </motion.li>
          ))}
        </AnimatePresence>
      </ul>
    </div>
  );
}
