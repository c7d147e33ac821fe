import { cn } from "./cn";

export interface SkeletonProps {
  className?: string;
  /** Round (avatars) instead of a rounded rectangle. */
  circle?: boolean;
}

/** A shimmering placeholder; decorative: put an accessible "Loading …" text (sr-only) next to a group of them. */
export function Skeleton({ className, circle }: SkeletonProps) {
  return (
    <span
      aria-hidden
      data-testid="skeleton"
      className={cn(
        "block bg-[linear-gradient(90deg,rgb(255_255_255/0.05),rgb(255_255_255/0.12),rgb(255_255_255/0.05))] bg-[length:200%_100%] animate-shimmer motion-reduce:animate-none",
        circle ? "rounded-full" : "rounded-md",
        className ?? "h-4 w-full",
      )}
    />
  );
}
