// The race: one bar per team, as wide as its score against the leader (or the goal), with a ghost bar
// and marker for the projection at the end, the pace, and the top contributors.
"use client";

import { LayoutGroup, motion, useReducedMotion } from "motion/react";
import { Avatar } from "@/components/ui/Avatar";
import { CountUp } from "@/components/leaderboard/common";
import type { RaceLane } from "@/lib/challenge";
import { formatNumber } from "@/lib/time";

const LANE_COLORS = [
  "from-accent to-accent-2",
  "from-pink-500 to-orange-400",
  "from-emerald-400 to-cyan-400",
  "from-amber-400 to-yellow-300",
  "from-sky-500 to-indigo-400",
];

export function RaceLanes({ lanes, goal, unit, showProjection }: { lanes: readonly RaceLane[]; goal: number | null; unit: string; showProjection: boolean }) {
  const reduce = useReducedMotion();
  const spring = reduce ? { duration: 0 } : { type: "spring" as const, stiffness: 90, damping: 20 };
  return (
    <LayoutGroup>
      <ol className="space-y-4 2xl:space-y-6" aria-label="Teams by rank">
        {lanes.map((lane, index) => (
          <motion.li
            key={lane.slug}
            layout={reduce ? false : "position"}
            transition={{ type: "spring", stiffness: 300, damping: 32 }}
            data-testid="challenge-team"
            data-team={lane.slug}
            data-rank={lane.rank ?? ""}
            className={`rounded-2xl border p-3 sm:p-4 2xl:p-6 ${lane.rank === 1 && lane.score > 0 ? "border-xp/40 bg-xp/5" : "border-white/8 bg-ink-800/40"} ${lane.eligible ? "" : "opacity-60"}`}
          >
            <div className="flex flex-wrap items-baseline justify-between gap-x-3 gap-y-1">
              <div className="flex min-w-0 items-baseline gap-3">
                <span className="text-2xl font-black tabular-nums text-fg-muted 2xl:text-5xl">
                  <span className="sr-only">Rank </span>
                  {lane.rank ?? "–"}
                </span>
                <h3 className="truncate text-lg font-bold text-fg sm:text-xl 2xl:text-4xl">
                  {lane.name}
                  {lane.reachedGoal ? <span className="ml-2 text-sm font-medium text-success-soft 2xl:text-xl">goal reached ✓</span> : null}
                  {!lane.eligible ? <span className="ml-2 text-sm font-normal text-fg-subtle">not eligible</span> : null}
                </h3>
              </div>
              <div className="text-right">
                <CountUp value={lane.score} className="text-2xl font-black text-xp-soft 2xl:text-5xl" />
                <span className="ml-1 text-xs text-fg-subtle 2xl:text-base">{unit}</span>
              </div>
            </div>

            <div
              className="relative mt-2 h-5 overflow-hidden rounded-full bg-white/8 sm:h-6 2xl:h-10"
              role="img"
              aria-label={`${lane.name}: ${formatNumber(lane.score)}${goal ? ` of ${formatNumber(goal)}` : ""}${showProjection ? `, projected ${formatNumber(lane.projection)}` : ""}`}
            >
              {showProjection ? (
                <motion.div
                  aria-hidden
                  className="absolute inset-y-0 left-0 rounded-full bg-white/10"
                  initial={false}
                  animate={{ width: `${lane.projectionWidth * 100}%` }}
                  transition={spring}
                />
              ) : null}
              <motion.div
                aria-hidden
                className={`absolute inset-y-0 left-0 rounded-full bg-gradient-to-r ${LANE_COLORS[index % LANE_COLORS.length]} shadow-[0_0_20px_-4px_rgb(139_92_246/0.7)]`}
                initial={false}
                animate={{ width: `${lane.width * 100}%` }}
                transition={spring}
              />
              {showProjection && lane.projectionWidth > 0 ? (
                <motion.span
                  aria-hidden
                  className="absolute inset-y-0 w-0.5 bg-fg/80"
                  initial={false}
                  animate={{ left: `calc(${lane.projectionWidth * 100}% - 2px)` }}
                  transition={spring}
                />
              ) : null}
            </div>

            <div className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-fg-muted sm:text-sm 2xl:text-lg">
              <span>
                Pace <strong className="text-fg">{formatNumber(lane.pacePerHour)}</strong>/h
              </span>
              {showProjection ? (
                <span>
                  Projected <strong className="text-fg">{formatNumber(lane.projection)}</strong> at the end
                </span>
              ) : null}
              <span>{lane.memberCount} members</span>
            </div>

            {lane.contributions.length > 0 ? (
              <ul className="mt-3 flex flex-wrap gap-2" aria-label={`Top contributors of ${lane.name}`}>
                {lane.contributions.map((c) => (
                  <li key={c.member} className="inline-flex items-center gap-1.5 rounded-full border border-white/10 bg-white/5 py-0.5 pl-0.5 pr-2.5 text-xs sm:text-sm 2xl:text-lg">
                    <Avatar id={c.member} name={c.display_name} size="xs" decorative />
                    <span className="text-fg">{c.display_name}</span>
                    <span className="tabular-nums text-xp-soft">{formatNumber(c.contribution)}</span>
                  </li>
                ))}
              </ul>
            ) : null}
          </motion.li>
        ))}
      </ol>
    </LayoutGroup>
  );
}
