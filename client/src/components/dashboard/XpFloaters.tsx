"use client";

import { AnimatePresence, motion } from "motion/react";
import { useEffect, useId, useRef, useState } from "react";
import { cn } from "@/components/ui/cn";
import { useAwards, type Floater as FloaterData } from "@/stores/awards";

const SHOW_MS = 2600;
const LINGER_MS = 1500;

/**
 * The "+N XP" of the last awards, ON the XP bar (a lane centred on the track, right-aligned): they rise
 * a few pixels and fade, and never leave the bar's own row, so they cannot cover the total XP or the
 * Level title above it. A burst is one floater ("+410 XP"): the store merges them. Each holds still
 * (with its words) while hovered, focused or tapped.
 */
export function XpFloaters() {
  const floaters = useAwards((s) => s.floaters);
  return (
    <div className="pointer-events-none absolute inset-y-0 right-1 flex items-center justify-end gap-1" data-testid="xp-floater-lane">
      <AnimatePresence initial={false}>
        {floaters.map((floater) => (
          <Floater key={floater.id} floater={floater} />
        ))}
      </AnimatePresence>
    </div>
  );
}

function Floater({ floater }: { floater: FloaterData }) {
  const remove = useAwards((s) => s.removeFloater);
  const [held, setHeld] = useState(false);
  const [open, setOpen] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const tipId = useId();

  useEffect(() => {
    clearTimeout(timer.current);
    if (!held) timer.current = setTimeout(() => remove(floater.id), SHOW_MS);
    return () => clearTimeout(timer.current);
    // A merge (count) restarts the countdown: the sum stays readable as long as a single award would.
  }, [held, floater.id, floater.count, remove]);

  const hold = () => setHeld(true);
  const release = () => {
    setOpen(false);
    setHeld(false);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => remove(floater.id), LINGER_MS);
  };
  const negative = floater.amount < 0;

  return (
    <motion.div
      className="pointer-events-auto relative"
      initial={{ opacity: 0, y: 6, scale: 0.9 }}
      animate={{ opacity: 1, y: 0, scale: 1 }}
      exit={{ opacity: 0, y: -4, transition: { duration: 0.4, ease: "easeOut" } }}
      transition={{ type: "spring", stiffness: 300, damping: 22 }}
    >
      <button
        type="button"
        data-testid="xp-floater"
        aria-describedby={tipId}
        onMouseEnter={hold}
        onMouseLeave={release}
        onFocus={hold}
        onBlur={release}
        onClick={() => {
          setHeld(true);
          setOpen((v) => !v);
        }}
        onKeyDown={(e) => {
          if (e.key === "Escape") release();
        }}
        className={cn(
          "block rounded-full border px-2 text-xs leading-5 font-extrabold tabular shadow-lg 2xl:text-base 2xl:leading-6",
          negative ? "border-warn/50 bg-ink-900 text-warn-soft" : "border-xp/50 bg-ink-900 text-xp shadow-glow-xp",
        )}
      >
        {floater.text}
      </button>
      <span
        id={tipId}
        role="tooltip"
        className={cn(
          "absolute top-full right-0 z-10 mt-2 w-max max-w-[16rem] rounded-lg border border-white/10 bg-ink-800 px-2.5 py-1.5 text-xs text-fg shadow-card",
          held || open ? "visible opacity-100" : "invisible opacity-0",
        )}
      >
        {floater.summary || "XP awarded"}
      </span>
    </motion.div>
  );
}
