"use client";

import { AnimatePresence, motion } from "motion/react";
import { useEffect, useId, useRef, useState } from "react";
import type { XpAward } from "@/lib/awards";
import { cn } from "@/components/ui/cn";
import { useAwards } from "@/stores/awards";

const SHOW_MS = 2600;
const LINGER_MS = 1500;

/** The "+N XP" that float up from the XP bar; each holds still (with its explanation) while hovered, focused or tapped. */
export function XpFloaters() {
  const floaters = useAwards((s) => s.floaters);
  return (
    <div className="pointer-events-none absolute inset-x-0 bottom-full h-0">
      <AnimatePresence>
        {floaters.map((award, index) => (
          <Floater key={award.id} award={award} index={index} />
        ))}
      </AnimatePresence>
    </div>
  );
}

function Floater({ award, index }: { award: XpAward; index: number }) {
  const remove = useAwards((s) => s.removeFloater);
  const [held, setHeld] = useState(false);
  const [open, setOpen] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const tipId = useId();

  useEffect(() => {
    clearTimeout(timer.current);
    if (!held) timer.current = setTimeout(() => remove(award.id), index === 0 ? SHOW_MS : SHOW_MS + index * 150);
    return () => clearTimeout(timer.current);
    // `index` changes as older floaters leave; the countdown should not restart for that.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [held, award.id, remove]);

  const hold = () => setHeld(true);
  const release = () => {
    setOpen(false);
    setHeld(false);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => remove(award.id), LINGER_MS);
  };
  const negative = award.amount < 0;

  return (
    <motion.div
      className="pointer-events-auto absolute bottom-1"
      style={{ right: `${8 + (index % 4) * 18}%` }}
      initial={{ opacity: 0, y: 12, scale: 0.8 }}
      animate={{ opacity: 1, y: -18 - index * 4, scale: 1 }}
      exit={{ opacity: 0, y: -56, transition: { duration: 0.6, ease: "easeOut" } }}
      transition={{ type: "spring", stiffness: 300, damping: 18 }}
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
          "peer rounded-full border px-2.5 py-0.5 text-sm font-extrabold tabular shadow-lg backdrop-blur 2xl:text-xl",
          negative ? "border-warn/50 bg-ink-900/80 text-warn-soft" : "border-xp/50 bg-ink-900/80 text-xp shadow-glow-xp",
        )}
      >
        {award.text}
      </button>
      <span
        id={tipId}
        role="tooltip"
        className={cn(
          "absolute right-0 bottom-full z-10 mb-2 w-max max-w-[16rem] rounded-lg border border-white/10 bg-ink-800 px-2.5 py-1.5 text-xs text-fg shadow-card",
          held || open ? "visible opacity-100" : "invisible opacity-0",
        )}
      >
        {award.explanation || "XP awarded"}
      </span>
    </motion.div>
  );
}
