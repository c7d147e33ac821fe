"use client";

import { motion } from "motion/react";
import type { Badge } from "@/protocol/documents";
import { Card, CardHeader } from "@/components/ui/Card";
import { EmptyState } from "@/components/ui/EmptyState";
import { LiveDot } from "@/components/ui/LiveDot";
import { Pill } from "@/components/ui/Pill";
import { Skeleton } from "@/components/ui/Skeleton";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { Pending } from "@/components/shell/Pending";

const SHOWN = 8;

/** The newest badges I earned, each with its explanation on hover/focus (title) and for screen readers. */
export function BadgesStrip({ badges, fresh }: { badges: Record<string, Badge> | null; fresh: boolean }) {
  const list = badges ? Object.entries(badges).sort(([, a], [, b]) => b.earned_at_ms - a.earned_at_ms) : null;
  return (
    <Card aria-labelledby="badges-title">
      <CardHeader
        id="badges-title"
        title="Badges"
        icon="🏅"
        aside={
          <>
            {list ? <Pill tone="xp">{list.length}</Pill> : null}
            <LiveDot fresh={fresh} />
          </>
        }
      />
      {list === null ? (
        <Pending
          what="your badges"
          skeleton={
            <div className="flex gap-2">
              <span className="sr-only">Loading badges…</span>
              {[0, 1, 2, 3].map((i) => (
                <Skeleton key={i} className="h-16 w-20" />
              ))}
            </div>
          }
        />
      ) : (
        <StaleOverlay fresh={fresh}>
          {list.length === 0 ? (
            <EmptyState icon="🎖️" title="No badges yet">
              Your first one is closer than you think.
            </EmptyState>
          ) : (
            <ul className="grid grid-cols-[repeat(auto-fill,minmax(6.5rem,1fr))] gap-2 2xl:grid-cols-[repeat(auto-fill,minmax(9rem,1fr))]">
              {list.slice(0, SHOWN).map(([key, b]) => (
                <motion.li
                  key={key}
                  initial={{ opacity: 0, scale: 0.6, rotate: -8 }}
                  animate={{ opacity: 1, scale: 1, rotate: 0 }}
                  transition={{ type: "spring", stiffness: 380, damping: 18 }}
                  tabIndex={0}
                  title={b.summary || b.explanation}
                  className="flex min-w-0 flex-col items-center gap-1 rounded-xl border border-xp/20 bg-gradient-to-b from-xp/10 to-transparent px-2 py-3 text-center"
                >
                  <span aria-hidden className="text-2xl 2xl:text-4xl">
                    {b.secret ? "🔮" : b.tier === "gold" ? "🥇" : b.tier === "silver" ? "🥈" : b.tier === "bronze" ? "🥉" : "🏅"}
                  </span>
                  <span className="w-full truncate text-xs font-semibold 2xl:text-base">{b.name}</span>
                  {b.tier || b.period ? <span className="w-full truncate text-[11px] text-fg-subtle 2xl:text-sm">{b.tier ?? b.period}</span> : null}
                  <span className="sr-only">: {b.summary || b.explanation}</span>
                </motion.li>
              ))}
            </ul>
          )}
        </StaleOverlay>
      )}
    </Card>
  );
}
