"use client";

import { AnimatePresence, motion } from "motion/react";
import type { ReactNode } from "react";
import { cn } from "./cn";

export interface StaleOverlayProps {
  /** The view's `fresh`: when false the content is dimmed and labelled as last known data. */
  fresh: boolean;
  /** Whether there is anything to show yet (no label over a loading skeleton). Default true. */
  hasData?: boolean;
  /** The label; default "Reconnecting — showing last known data". */
  label?: string;
  children: ReactNode;
  className?: string;
}

/** Wraps a live card's content so stale data is never shown as live. */
export function StaleOverlay({
  fresh,
  hasData = true,
  label = "Reconnecting — showing last known data",
  children,
  className,
}: StaleOverlayProps) {
  const stale = !fresh && hasData;
  return (
    <div className={cn("relative", className)} data-stale={stale || undefined} aria-busy={!fresh || undefined}>
      <div className={cn("transition-[opacity,filter] duration-300", stale && "opacity-45 grayscale-[60%]")}>{children}</div>
      <AnimatePresence>
        {stale ? (
          <motion.div
            key="stale"
            initial={{ opacity: 0, y: -4 }}
            animate={{ opacity: 1, y: 0 }}
            exit={{ opacity: 0 }}
            className="pointer-events-none absolute inset-x-0 top-0 flex justify-center"
          >
            <span
              role="status"
              data-testid="stale-label"
              className="mt-1 inline-flex items-center gap-1.5 rounded-full border border-warn/40 bg-ink-900/90 px-3 py-1 text-xs font-medium text-warn-soft shadow-lg 2xl:text-sm"
            >
              <span aria-hidden className="inline-block size-2 rounded-full bg-warn" />
              {label}
            </span>
          </motion.div>
        ) : null}
      </AnimatePresence>
    </div>
  );
}
