"use client";

import type { ReactNode } from "react";
import { cn } from "./cn";

export interface StaleOverlayProps {
  /** The view's `fresh`: when false the content is dimmed (the shell's one banner says why). */
  fresh: boolean;
  /** Whether there is anything to show yet (nothing to dim over a loading skeleton). Default true. */
  hasData?: boolean;
  children: ReactNode;
  className?: string;
}

/**
 * Wraps a live card's content so stale data is never shown as live: dimmed, and marked `data-stale`.
 * The words ("Can't reach gamif — retrying in 4 s") are the shell's single connection banner, not a pill
 * on every card.
 */
export function StaleOverlay({ fresh, hasData = true, children, className }: StaleOverlayProps) {
  const stale = !fresh && hasData;
  return (
    <div className={cn("relative", className)} data-stale={stale || undefined} aria-busy={!fresh || undefined}>
      <div className={cn("transition-[opacity,filter] duration-300", stale && "opacity-60 grayscale-[50%]")}>{children}</div>
    </div>
  );
}
