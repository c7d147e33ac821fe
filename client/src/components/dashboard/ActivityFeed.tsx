"use client";

import { AnimatePresence, motion } from "motion/react";
import type { ActivityDoc } from "@/protocol/documents";
import type { TopicView } from "@/protocol";
import { Avatar } from "@/components/ui/Avatar";
import { Card, CardHeader } from "@/components/ui/Card";
import { EmptyState } from "@/components/ui/EmptyState";
import { LiveDot } from "@/components/ui/LiveDot";
import { Skeleton } from "@/components/ui/Skeleton";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { cn } from "@/components/ui/cn";
import { describeActivity } from "@/lib/awards";
import { formatRelativeTime } from "@/lib/format";
import { useNow } from "./useNow";
import { Pending } from "@/components/shell/Pending";

export interface ActivityFeedProps {
  view: TopicView<ActivityDoc>;
  /** Highlights the viewer's own moments. */
  userId: string;
  /** Most rows shown (default all 50). */
  limit?: number;
}

/** Everyone's notable moments, newest first; new rows slide in at the top. */
export function ActivityFeed({ view, userId, limit = 50 }: ActivityFeedProps) {
  const now = useNow(30_000);
  const items = view.doc?.items.slice(0, limit) ?? null;
  return (
    <Card aria-labelledby="activity-title" padding="none" className="flex flex-col">
      <CardHeader id="activity-title" title="Live activity" icon="📡" aside={<LiveDot fresh={view.fresh} />} className="px-4 pt-4 sm:px-5 sm:pt-5 2xl:px-7 2xl:pt-7" />
      {items === null ? (
        <div className="space-y-3 px-4 pb-4 sm:px-5">
          <Pending
            what="the activity"
            skeleton={
              <>
                <span className="sr-only">Loading activity…</span>
                {[0, 1, 2, 3].map((i) => (
                  <div key={i} className="flex items-center gap-3">
                    <Skeleton circle className="size-8" />
                    <Skeleton className="h-4 flex-1" />
                  </div>
                ))}
              </>
            }
          />
        </div>
      ) : (
        <StaleOverlay fresh={view.fresh}>
          {items.length === 0 ? (
            <EmptyState icon="🌱" title="Quiet so far">
              Level-ups, badges and missions will show up here.
            </EmptyState>
          ) : (
            <ol
              aria-label="Recent activity, newest first"
              className="max-h-[28rem] space-y-1 overflow-y-auto overscroll-contain px-2 pb-3 sm:px-3 2xl:max-h-[48rem]"
            >
              {/* New rows fade in at the top; rows stay in the flow (no sliding, no exit animation), so two
                  rows never overlap mid-animation. The rows of the first render just show. */}
              <AnimatePresence initial={false}>
                {items.map((item) => {
                  const { icon, who, what, summary } = describeActivity(item);
                  const mine = item.user_id === userId;
                  return (
                    <motion.li
                      key={item.id}
                      initial={{ opacity: 0 }}
                      animate={{ opacity: 1 }}
                      transition={{ duration: 0.3 }}
                      className={cn("flex items-center gap-3 rounded-xl px-2 py-2 2xl:py-3", mine ? "bg-accent/10 ring-1 ring-accent/25" : "hover:bg-white/4")}
                    >
                      <Avatar id={item.user_id} name={item.display_name} size="sm" decorative />
                      <p className="min-w-0 flex-1 text-sm break-words 2xl:text-lg">
                        <span aria-hidden className="mr-1">
                          {icon}
                        </span>
                        <strong className="font-semibold text-fg">{mine ? "You" : who}</strong>
                        <span className="text-fg-muted">{summary ? ` · ${what}` : ` ${what}`}</span>
                      </p>
                      <time dateTime={new Date(item.at_ms).toISOString()} className="shrink-0 text-xs text-fg-subtle tabular 2xl:text-sm">
                        {formatRelativeTime(item.at_ms, now)}
                      </time>
                    </motion.li>
                  );
                })}
              </AnimatePresence>
            </ol>
          )}
        </StaleOverlay>
      )}
    </Card>
  );
}
