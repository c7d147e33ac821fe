import type { HTMLAttributes, ReactNode } from "react";
import { cn } from "./cn";

export type PillTone = "neutral" | "accent" | "xp" | "success" | "warning" | "danger" | "info";

export interface PillProps extends HTMLAttributes<HTMLSpanElement> {
  tone?: PillTone;
  size?: "sm" | "md";
  icon?: ReactNode;
}

const TONES: Record<PillTone, string> = {
  neutral: "bg-white/8 text-fg-muted border-white/12",
  accent: "bg-accent/15 text-accent-soft border-accent/35",
  xp: "bg-xp/15 text-xp-soft border-xp/35",
  success: "bg-success/15 text-success-soft border-success/35",
  warning: "bg-warn/15 text-warn-soft border-warn/35",
  danger: "bg-danger/15 text-danger-soft border-danger/40",
  info: "bg-info/15 text-info-soft border-info/35",
};

/** A small rounded label: a tier, a period, a count. */
export function Pill({ tone = "neutral", size = "sm", icon, className, children, ...rest }: PillProps) {
  return (
    <span
      className={cn(
        "inline-flex max-w-full items-center gap-1 truncate rounded-full border font-medium",
        size === "sm" ? "px-2 py-0.5 text-xs 2xl:text-sm" : "px-3 py-1 text-sm 2xl:text-base",
        TONES[tone],
        className,
      )}
      {...rest}
    >
      {icon ? <span aria-hidden>{icon}</span> : null}
      {children}
    </span>
  );
}

/** Alias: a badge-looking pill (not to be confused with the game's badges). */
export const Badge = Pill;
export type BadgeProps = PillProps;
