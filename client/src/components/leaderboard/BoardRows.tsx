// Ranked rows that glide to their new place (motion `layout`), count their score up, and flash briefly
// when they change. In DOM order = rank order; each row carries data-member / data-rank.
"use client";

import { AnimatePresence, LayoutGroup, motion, useReducedMotion } from "motion/react";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { Avatar } from "@/components/ui/Avatar";
import { changedKeys } from "@/lib/ranking";
import { CountUp } from "./common";

export interface RankedRow {
  key: string;
  rank: number;
  name: string;
  score: number;
  /** Under the name: a handle, a member count. */
  detail?: ReactNode;
  href?: string;
  isViewer?: boolean;
}

const MEDAL: Record<number, string> = {
  1: "bg-xp/20 text-xp-soft ring-1 ring-xp/50",
  2: "bg-slate-300/15 text-slate-100 ring-1 ring-slate-300/40",
  3: "bg-orange-400/15 text-orange-200 ring-1 ring-orange-400/40",
};

/** Keys of rows whose score or rank changed since the previous list, for ~1.5 s. */
function useFlash(rows: readonly RankedRow[]): Set<string> {
  const previous = useRef<readonly RankedRow[] | null>(null);
  const [flash, setFlash] = useState<Set<string>>(() => new Set());
  useEffect(() => {
    const before = previous.current;
    previous.current = rows;
    if (!before) return undefined;
    const changed = changedKeys(before, rows, (r) => r.key, (r) => `${r.score}|${r.rank}`);
    if (changed.size === 0) return undefined;
    setFlash(changed);
    const timer = setTimeout(() => setFlash(new Set()), 1500);
    return () => clearTimeout(timer);
  }, [rows]);
  return flash;
}

export function BoardRows({
  rows,
  unit,
  testId = "leaderboard-row",
  label,
}: {
  rows: readonly RankedRow[];
  unit: string;
  testId?: string;
  label: string;
}) {
  const reduce = useReducedMotion();
  const flash = useFlash(rows);
  return (
    <LayoutGroup>
      <ol aria-label={label} className="space-y-2">
        <AnimatePresence initial={false}>
          {rows.map((row) => {
            const flashing = flash.has(row.key);
            return (
              <motion.li
                key={row.key}
                layout={reduce ? false : "position"}
                initial={reduce ? false : { opacity: 0, y: 8 }}
                animate={{ opacity: 1, y: 0 }}
                exit={reduce ? { opacity: 0, transition: { duration: 0 } } : { opacity: 0, scale: 0.98 }}
                transition={{ type: "spring", stiffness: 420, damping: 36 }}
                data-testid={testId}
                data-member={row.key}
                data-rank={row.rank}
                aria-current={row.isViewer ? "true" : undefined}
                className={`relative flex items-center gap-3 overflow-hidden rounded-xl border px-3 py-2.5 sm:gap-4 sm:px-4 2xl:py-4 ${
                  row.isViewer ? "border-accent-2/60 bg-accent-2/10" : "border-white/8 bg-ink-800/50"
                }`}
              >
                {flashing && !reduce ? (
                  <motion.span
                    aria-hidden
                    className="pointer-events-none absolute inset-0 bg-xp/15"
                    initial={{ opacity: 1 }}
                    animate={{ opacity: 0 }}
                    transition={{ duration: 1.4, ease: "easeOut" }}
                  />
                ) : null}
                <span
                  className={`relative inline-flex size-9 shrink-0 items-center justify-center rounded-full text-sm font-bold tabular-nums 2xl:size-14 2xl:text-2xl ${
                    MEDAL[row.rank] ?? "bg-white/5 text-fg-muted"
                  }`}
                >
                  <span className="sr-only">Rank </span>
                  {row.rank}
                </span>
                <Avatar id={row.key} name={row.name} size="md" decorative />
                <span className="relative min-w-0 flex-1">
                  <span className="block truncate font-semibold text-fg sm:text-lg 2xl:text-3xl">
                    {row.href ? (
                      <a href={row.href} className="hover:underline focus-visible:outline-2 focus-visible:outline-accent-2">
                        {row.name}
                      </a>
                    ) : (
                      row.name
                    )}
                    {row.isViewer ? (
                      <span className="ml-2 rounded-full bg-accent-2/20 px-2 py-0.5 align-middle text-xs font-medium text-accent-2-soft 2xl:text-base">
                        You
                      </span>
                    ) : null}
                  </span>
                  {row.detail ? <span className="block truncate text-xs text-fg-subtle sm:text-sm 2xl:text-lg">{row.detail}</span> : null}
                </span>
                <span className="relative shrink-0 text-right">
                  <CountUp value={row.score} className="block text-lg font-bold text-xp-soft sm:text-xl 2xl:text-4xl" />
                  <span className="block text-[11px] uppercase tracking-wide text-fg-subtle 2xl:text-sm">{unit}</span>
                </span>
              </motion.li>
            );
          })}
        </AnimatePresence>
      </ol>
    </LayoutGroup>
  );
}
