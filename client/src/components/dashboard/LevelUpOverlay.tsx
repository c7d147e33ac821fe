"use client";

import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { useEffect, useRef } from "react";
import { useAwards } from "@/stores/awards";

const AUTO_CLOSE_MS = 4200;
const PARTICLES = 28;
const COLORS = ["#fbbf24", "#8b5cf6", "#22d3ee", "#34d399", "#f472b6", "#fde68a"];

/** Deterministic particle layout (no Math.random in render). */
const particles = Array.from({ length: PARTICLES }, (_, i) => {
  const angle = (i / PARTICLES) * Math.PI * 2 + (i % 3) * 0.17;
  const distance = 140 + ((i * 37) % 120);
  return {
    x: Math.cos(angle) * distance,
    y: Math.sin(angle) * distance,
    size: 6 + ((i * 13) % 8),
    color: COLORS[i % COLORS.length] ?? "#fbbf24",
    delay: (i % 5) * 0.03,
    round: i % 2 === 0,
  };
});

/** The full-screen "Level 11!" celebration, the only feedback of a level-up (no toast beside it, no
 * arithmetic in it): its Continue button, a click anywhere, Escape or ~4 s closes it. */
export function LevelUpOverlay() {
  const celebration = useAwards((s) => s.celebration);
  const close = useAwards((s) => s.closeCelebration);
  const reduce = useReducedMotion();
  const dialog = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const previousFocus = useRef<HTMLElement | null>(null);

  useEffect(() => {
    if (!celebration) return undefined;
    previousFocus.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    (button.current ?? dialog.current)?.focus();
    const timer = setTimeout(close, AUTO_CLOSE_MS);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") close();
    };
    document.addEventListener("keydown", onKey);
    return () => {
      clearTimeout(timer);
      document.removeEventListener("keydown", onKey);
      previousFocus.current?.focus?.();
    };
  }, [celebration, close]);

  return (
    <AnimatePresence>
      {celebration ? (
        <motion.div
          key={celebration.level}
          ref={dialog}
          role="dialog"
          aria-modal="true"
          aria-labelledby="level-up-title"
          aria-describedby="level-up-text"
          tabIndex={-1}
          data-testid="level-up"
          onClick={close}
          initial={{ opacity: 0 }}
          animate={{ opacity: 1 }}
          exit={{ opacity: 0, transition: { duration: 0.25 } }}
          className="fixed inset-0 z-[80] flex cursor-pointer items-center justify-center overflow-hidden bg-ink-950/80 p-6 backdrop-blur-md outline-none"
        >
          <div aria-hidden className="pointer-events-none absolute inset-0 bg-[radial-gradient(circle_at_center,rgb(251_191_36/0.22),transparent_55%)]" />
          {!reduce ? (
            <div aria-hidden className="pointer-events-none absolute top-1/2 left-1/2">
              {particles.map((p, i) => (
                <motion.span
                  key={i}
                  className={p.round ? "absolute rounded-full" : "absolute rounded-sm"}
                  style={{ width: p.size, height: p.size, backgroundColor: p.color, marginLeft: -p.size / 2, marginTop: -p.size / 2 }}
                  initial={{ x: 0, y: 0, scale: 0.2, opacity: 1, rotate: 0 }}
                  animate={{ x: p.x, y: p.y + 60, scale: 1, opacity: 0, rotate: 180 + i * 20 }}
                  transition={{ duration: 1.6, delay: 0.15 + p.delay, ease: [0.15, 0.8, 0.3, 1] }}
                />
              ))}
            </div>
          ) : null}
          <motion.div
            initial={reduce ? { opacity: 0 } : { scale: 0.6, opacity: 0, y: 20 }}
            animate={reduce ? { opacity: 1 } : { scale: 1, opacity: 1, y: 0 }}
            transition={reduce ? { duration: 0.2 } : { type: "spring", stiffness: 260, damping: 16 }}
            className="relative flex max-w-full flex-col items-center text-center"
          >
            <span aria-hidden className="mb-2 text-5xl sm:text-6xl 2xl:text-8xl">
              🚀
            </span>
            <p className="text-sm font-semibold tracking-[0.3em] text-xp-soft uppercase 2xl:text-xl">Level up</p>
            <h2
              id="level-up-title"
              className="bg-xp-gradient bg-clip-text text-6xl font-black text-transparent drop-shadow-[0_0_30px_rgb(251_191_36/0.45)] sm:text-7xl 2xl:text-9xl"
            >
              Level {celebration.level}!
            </h2>
            <p id="level-up-text" className="mt-3 max-w-md text-fg-muted 2xl:text-2xl">
              {celebration.level - celebration.previousLevel > 1
                ? `Up ${celebration.level - celebration.previousLevel} levels at once. Keep going!`
                : "A new level. Keep going!"}
            </p>
            <button
              ref={button}
              type="button"
              data-testid="level-up-continue"
              onClick={(e) => {
                e.stopPropagation();
                close();
              }}
              className="mt-6 inline-flex min-h-11 items-center rounded-full bg-xp-gradient px-6 font-bold text-ink-950 shadow-glow-xp 2xl:min-h-14 2xl:px-8 2xl:text-xl"
            >
              Continue
            </button>
          </motion.div>
        </motion.div>
      ) : null}
    </AnimatePresence>
  );
}
