"use client";

import { motion, useReducedMotion } from "motion/react";
import type { ReactNode } from "react";
import { cn } from "./cn";

export interface ProgressBarProps {
  /** 0..1: how full the bar is. */
  progress: number;
  /** Accessible name (aria-label). */
  label: string;
  /** aria-valuenow/min/max; default: the progress as a percentage 0..100. */
  value?: number;
  min?: number;
  max?: number;
  /** aria-valuetext, e.g. "3,092 XP, 78% to level 11". */
  valueText?: string;
  tone?: "accent" | "xp" | "success" | "warning" | "danger";
  size?: "xs" | "sm" | "md" | "lg";
  className?: string;
  /** Rendered inside the track, above the fill (e.g. floaters). */
  children?: ReactNode;
  "data-testid"?: string;
}

const FILL = {
  accent: "bg-accent-gradient",
  xp: "bg-xp-gradient shadow-glow-xp",
  success: "bg-success",
  warning: "bg-warn",
  danger: "bg-danger",
} as const;

const HEIGHT = { xs: "h-1.5", sm: "h-2", md: "h-3 2xl:h-4", lg: "h-4 sm:h-5 2xl:h-7" } as const;

/** A progress bar whose fill springs from the old value to the new one. */
export function ProgressBar({
  progress,
  label,
  value,
  min = 0,
  max = 100,
  valueText,
  tone = "accent",
  size = "md",
  className,
  children,
  ...rest
}: ProgressBarProps) {
  const reduce = useReducedMotion();
  const clamped = Number.isFinite(progress) ? Math.min(1, Math.max(0, progress)) : 0;
  const now = value ?? Math.round(clamped * 100);
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuenow={now}
      aria-valuemin={min}
      aria-valuemax={max}
      aria-valuetext={valueText}
      data-testid={rest["data-testid"]}
      data-progress={clamped.toFixed(4)}
      className={cn("relative w-full overflow-visible rounded-full bg-white/8 ring-1 ring-inset ring-white/10", HEIGHT[size], className)}
    >
      <div className="absolute inset-0 overflow-hidden rounded-full">
        <motion.div
          className={cn("h-full rounded-full", FILL[tone])}
          initial={false}
          animate={{ width: `${clamped * 100}%` }}
          transition={reduce ? { duration: 0 } : { type: "spring", stiffness: 90, damping: 18, mass: 0.9 }}
        />
      </div>
      {children}
    </div>
  );
}
