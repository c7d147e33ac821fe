// The finish: a winner banner with the results and each reward's explanation, and (motion allowed) a
// short confetti burst when the finish happens while watching.
"use client";

import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { useMemo } from "react";
import { joinNames, winnerNames } from "@/lib/challenge";
import { formatNumber } from "@/lib/time";
import type { ChallengeDoc, ChallengeResults } from "@/protocol/documents";

const COLORS = ["#fbbf24", "#8b5cf6", "#22d3ee", "#34d399", "#f472b6", "#f87171"];

function Confetti() {
  const pieces = useMemo(
    () =>
      Array.from({ length: 48 }, (_, i) => ({
        id: i,
        x: (Math.random() - 0.5) * 900,
        y: -150 - Math.random() * 350,
        rotate: Math.random() * 720 - 360,
        delay: Math.random() * 0.25,
        color: COLORS[i % COLORS.length] ?? "#fbbf24",
        size: 6 + Math.random() * 8,
      })),
    [],
  );
  return (
    <div aria-hidden className="pointer-events-none absolute inset-x-0 top-1/2 flex justify-center">
      {pieces.map((p) => (
        <motion.span
          key={p.id}
          className="absolute rounded-sm"
          style={{ width: p.size, height: p.size * 0.5, backgroundColor: p.color }}
          initial={{ x: 0, y: 0, opacity: 1, rotate: 0 }}
          animate={{ x: p.x, y: [0, p.y, p.y + 500], opacity: [1, 1, 0], rotate: p.rotate }}
          transition={{ duration: 2.6, delay: p.delay, ease: "easeOut" }}
        />
      ))}
    </div>
  );
}

export function Celebration({ doc, results, burst }: { doc: ChallengeDoc; results: ChallengeResults; burst: boolean }) {
  const reduce = useReducedMotion();
  const winners = winnerNames(results, doc);
  const cooperative = doc.mode === "cooperative";
  const headline = cooperative
    ? results.achieved
      ? "Goal reached — everyone wins!"
      : "The goal was not reached this time"
    : winners.length === 0
      ? "No winner this time"
      : `${joinNames(winners)} ${winners.length > 1 ? "win (tie)" : "wins"}!`;
  return (
    <section aria-labelledby="results-title" className="relative overflow-visible">
      <AnimatePresence>{burst && !reduce ? <Confetti key="confetti" /> : null}</AnimatePresence>
      <motion.div
        initial={reduce || !burst ? false : { scale: 0.9, opacity: 0 }}
        animate={{ scale: 1, opacity: 1 }}
        transition={{ type: "spring", stiffness: 200, damping: 16 }}
        className="rounded-2xl border border-xp/50 bg-gradient-to-br from-xp/20 via-accent/10 to-accent-2/10 p-5 text-center shadow-glow-xp 2xl:p-10"
        data-testid="challenge-results"
      >
        <p className="text-sm font-semibold uppercase tracking-[0.2em] text-xp-soft 2xl:text-xl">Final results</p>
        <h2 id="results-title" className="mt-1 text-2xl font-black text-fg sm:text-3xl 2xl:text-6xl">
          <span aria-hidden>🏆 </span>
          {headline}
        </h2>
        {results.rewards.length > 0 ? (
          <ul className="mx-auto mt-4 max-w-2xl space-y-2 text-left">
            {results.rewards.map((r, i) => (
              <li key={`${r.team}-${r.kind}-${i}`} className="rounded-xl bg-ink-900/60 px-4 py-2 text-sm 2xl:text-xl">
                <span className="font-semibold text-fg">{doc.teams[r.team]?.name ?? r.team}</span>
                <span className="text-fg-muted">
                  {" "}
                  {r.kind === "rank" && r.rank !== null ? `· rank ${r.rank}` : "· completion"}
                  {r.xp > 0 ? ` · +${formatNumber(r.xp)} XP each` : ""}
                  {r.badge ? ` · badge ${r.badge}` : ""}
                </span>
                <span className="block text-xs text-fg-subtle 2xl:text-base">{r.explanation}</span>
              </li>
            ))}
          </ul>
        ) : null}
      </motion.div>
    </section>
  );
}
