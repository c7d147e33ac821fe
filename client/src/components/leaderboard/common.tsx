// Pieces shared by the leaderboard, challenge, profile and admin pages: a counting number, a segmented
// tab bar with arrow keys, and the loading / empty / error blocks.
"use client";

import { animate, useMotionValue, useReducedMotion, useTransform, motion } from "motion/react";
import { useEffect, useId, useRef, type KeyboardEvent, type ReactNode } from "react";
import { Skeleton } from "@/components/ui/Skeleton";
import { problemMessage } from "@/lib/forms";
import { formatNumber } from "@/lib/time";

/** A number that counts from its previous value to the new one (instantly under reduced motion). */
export function CountUp({ value, className }: { value: number; className?: string }) {
  const reduce = useReducedMotion();
  const motionValue = useMotionValue(value);
  const text = useTransform(motionValue, (v) => formatNumber(v));
  useEffect(() => {
    if (reduce) {
      motionValue.set(value);
      return undefined;
    }
    const controls = animate(motionValue, value, { duration: 0.6, ease: "easeOut" });
    return () => controls.stop();
  }, [value, reduce, motionValue]);
  return (
    <motion.span className={`tabular-nums ${className ?? ""}`} aria-label={formatNumber(value)}>
      {text}
    </motion.span>
  );
}

export interface TabItem<K extends string> {
  key: K;
  label: ReactNode;
}

/**
 * A real tablist: one tab in the tab order, arrow keys / Home / End move between tabs and select.
 * `controls` is the id of the panel the tabs drive.
 */
export function Tabs<K extends string>({
  items,
  value,
  onChange,
  label,
  controls,
  size = "md",
}: {
  items: readonly TabItem<K>[];
  value: NoInfer<K>;
  onChange(key: K): void;
  label: string;
  controls?: string;
  size?: "md" | "sm";
}) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const id = useId();
  function onKey(event: KeyboardEvent<HTMLButtonElement>, index: number) {
    let next: number | null = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = (index + 1) % items.length;
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = (index - 1 + items.length) % items.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    if (next === null) return;
    event.preventDefault();
    const item = items[next];
    if (!item) return;
    onChange(item.key);
    refs.current[next]?.focus();
  }
  const pad = size === "sm" ? "px-3 py-1.5 text-sm" : "px-4 py-2 text-sm sm:text-base 2xl:text-xl";
  return (
    <div
      role="tablist"
      aria-label={label}
      className="inline-flex max-w-full flex-wrap gap-1 rounded-xl border border-white/10 bg-white/5 p-1"
    >
      {items.map((item, index) => {
        const selected = item.key === value;
        return (
          <button
            key={item.key}
            id={`${id}-${item.key}`}
            ref={(el) => {
              refs.current[index] = el;
            }}
            type="button"
            role="tab"
            aria-selected={selected}
            aria-controls={controls}
            tabIndex={selected ? 0 : -1}
            onClick={() => onChange(item.key)}
            onKeyDown={(e) => onKey(e, index)}
            className={`rounded-lg font-medium transition-colors focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent-2 ${pad} ${
              selected ? "bg-accent-strong text-white shadow-glow" : "text-fg-muted hover:bg-white/10 hover:text-fg"
            }`}
          >
            {item.label}
          </button>
        );
      })}
    </div>
  );
}

/** Toggle buttons (aria-pressed) for a choice that is not a tab panel, e.g. the board. */
export function ChoiceChips<K extends string>({
  items,
  value,
  onChange,
  label,
}: {
  items: readonly TabItem<K>[];
  value: NoInfer<K>;
  onChange(key: K): void;
  label: string;
}) {
  return (
    <div role="group" aria-label={label} className="flex max-w-full flex-wrap gap-1.5">
      {items.map((item) => {
        const pressed = item.key === value;
        return (
          <button
            key={item.key}
            type="button"
            aria-pressed={pressed}
            onClick={() => onChange(item.key)}
            className={`rounded-full border px-3 py-1 text-sm transition-colors focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-accent-2 2xl:text-lg ${
              pressed
                ? "border-accent-2/70 bg-accent-2/15 text-accent-2-soft"
                : "border-white/15 text-fg-muted hover:border-white/30 hover:text-fg"
            }`}
          >
            {item.label}
          </button>
        );
      })}
    </div>
  );
}

export function SkeletonRows({ count = 6, label = "Loading", className = "h-14" }: { count?: number; label?: string; className?: string }) {
  return (
    <div role="status" className="space-y-2">
      <span className="sr-only">{label}</span>
      {Array.from({ length: count }, (_, i) => (
        <Skeleton key={i} className={`${className} w-full rounded-xl`} />
      ))}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-2xl border border-dashed border-white/15 p-8 text-center">
      <p className="text-lg font-semibold text-fg 2xl:text-2xl">{title}</p>
      {children ? <div className="mt-2 text-fg-muted">{children}</div> : null}
    </div>
  );
}

export function ErrorState({ error, onRetry, title = "Could not load this" }: { error: unknown; onRetry?: () => void; title?: string }) {
  return (
    <div role="alert" className="rounded-2xl border border-danger/40 bg-danger/10 p-5">
      <p className="font-semibold text-danger-soft">{title}</p>
      <p className="mt-1 text-sm text-fg">{problemMessage(error)}</p>
      {onRetry ? (
        <button
          type="button"
          onClick={onRetry}
          className="mt-3 rounded-lg border border-danger/50 px-3 py-1.5 text-sm text-danger-soft hover:bg-danger/20 focus-visible:outline-2 focus-visible:outline-accent-2"
        >
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** The header of a page: title, optional subtitle and actions. */
export function PageHeader({ title, subtitle, children }: { title: ReactNode; subtitle?: ReactNode; children?: ReactNode }) {
  return (
    <header className="flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 className="text-2xl font-bold tracking-tight text-fg sm:text-3xl 2xl:text-5xl">{title}</h1>
        {subtitle ? <p className="mt-1 text-fg-muted 2xl:text-xl">{subtitle}</p> : null}
      </div>
      {children}
    </header>
  );
}
