import { cn } from "./cn";

export interface LiveDotProps {
  /** Live and in sync (green pulse) or stale (amber, still). */
  fresh: boolean;
  /** Show the text next to the dot ("Live" / "Stale"). */
  showLabel?: boolean;
  className?: string;
}

/** A small live indicator for a card header: a pulsing green dot when fresh, a still amber one when not. */
export function LiveDot({ fresh, showLabel = false, className }: LiveDotProps) {
  const label = fresh ? "Live" : "Stale";
  return (
    <span className={cn("inline-flex items-center gap-1.5 text-xs font-medium 2xl:text-sm", fresh ? "text-success-soft" : "text-warn-soft", className)}>
      <span className="relative inline-flex size-2.5" aria-hidden>
        {fresh ? <span className="absolute inset-0 rounded-full bg-success animate-pulse-ring motion-reduce:hidden" /> : null}
        <span className={cn("relative inline-block size-2.5 rounded-full", fresh ? "bg-success" : "bg-warn")} />
      </span>
      {showLabel ? <span>{label}</span> : <span className="sr-only">{fresh ? "Live data" : "Not live: last known data"}</span>}
    </span>
  );
}
