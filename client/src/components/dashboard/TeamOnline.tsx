"use client";

import { AnimatePresence, motion } from "motion/react";
import type { PresenceDoc, TeamDoc } from "@/protocol/documents";
import { Avatar } from "@/components/ui/Avatar";
import { EmptyState } from "@/components/ui/EmptyState";
import { LiveDot } from "@/components/ui/LiveDot";
import { Pill } from "@/components/ui/Pill";
import { Skeleton } from "@/components/ui/Skeleton";
import { StaleOverlay } from "@/components/ui/StaleOverlay";
import { formatNumber } from "@/lib/format";
import { useTopic } from "@/stores/live";
import { Pending } from "@/components/shell/Pending";

const SHOWN = 24;

/** Who of one of my teams is online: avatars with a green dot, "3 of 8 online". */
export function TeamOnline({ slug }: { slug: string }) {
  const presence = useTopic<PresenceDoc>(`presence:team:${slug}`);
  const team = useTopic<TeamDoc>(`team:${slug}`);
  const people = presence.doc ? Object.entries(presence.doc.people).sort(([, a], [, b]) => a.display_name.localeCompare(b.display_name)) : null;
  const members = team.doc?.totals.members;
  const fresh = presence.fresh && (team.fresh || team.doc === null);
  const headingId = `team-online-${slug}`;
  return (
    <section aria-labelledby={headingId} className="min-w-0">
      <div className="mb-2 flex items-center justify-between gap-2">
        <h3 id={headingId} className="min-w-0 truncate font-semibold 2xl:text-xl">
          {team.doc?.name ?? slug}
        </h3>
        <div className="flex shrink-0 items-center gap-2">
          {presence.doc ? (
            <Pill tone={presence.doc.count > 0 ? "success" : "neutral"} data-testid={`team-online-count-${slug}`}>
              {formatNumber(presence.doc.count)}
              {members !== undefined ? ` of ${formatNumber(members)}` : ""} online
            </Pill>
          ) : null}
          <LiveDot fresh={presence.fresh} />
        </div>
      </div>
      {presence.error ? (
        <p className="text-sm text-danger-soft">Cannot show this team ({presence.error}).</p>
      ) : people === null ? (
        <Pending
          what="who is online"
          skeleton={
            <div className="flex gap-2">
              <span className="sr-only">Loading who is online…</span>
              {[0, 1, 2].map((i) => (
                <Skeleton key={i} circle className="size-10" />
              ))}
            </div>
          }
        />
      ) : (
        <StaleOverlay fresh={fresh}>
          {people.length === 0 ? (
            <EmptyState icon="🌙" title="Nobody else is online" className="py-3" />
          ) : (
            <ul className="flex flex-wrap gap-2" aria-label={`Online in ${team.doc?.name ?? slug}`}>
              <AnimatePresence initial={false}>
                {people.slice(0, SHOWN).map(([id, person]) => (
                  <motion.li
                    key={id}
                    layout
                    initial={{ opacity: 0, scale: 0.5 }}
                    animate={{ opacity: 1, scale: 1 }}
                    exit={{ opacity: 0, scale: 0.5 }}
                    transition={{ type: "spring", stiffness: 420, damping: 24 }}
                  >
                    <Avatar id={id} name={person.display_name} online size="md" />
                  </motion.li>
                ))}
              </AnimatePresence>
              {people.length > SHOWN || presence.doc?.truncated ? (
                <li className="inline-flex size-10 items-center justify-center rounded-full bg-white/8 text-xs font-semibold text-fg-muted">
                  +{formatNumber((presence.doc?.count ?? people.length) - Math.min(SHOWN, people.length))}
                </li>
              ) : null}
            </ul>
          )}
        </StaleOverlay>
      )}
    </section>
  );
}
