import type { ReactNode } from "react";
import { cn } from "./cn";

export interface DisclosureProps {
  /** What the toggle says ("Details", "All 4 awards"), or any content (an award's words). */
  label: ReactNode;
  children: ReactNode;
  className?: string;
  /** The toggle's (the <summary>'s) size and colour classes, replacing the default small grey. */
  summaryClassName?: string;
  "data-testid"?: string;
}

/**
 * Details on demand (the arithmetic behind an award, its rule and version): a native <details>, so it
 * opens from the keyboard, is announced as expandable, and needs no script.
 */
export function Disclosure({ label, children, className, summaryClassName, ...rest }: DisclosureProps) {
  return (
    <details className={cn("group/disclosure min-w-0", className)} data-testid={rest["data-testid"]}>
      <summary
        className={cn(
          "inline-flex cursor-pointer list-none items-center gap-1 rounded select-none hover:text-fg [&::-webkit-details-marker]:hidden",
          // The toggle's type size and colour: the caller's (an award's words), else a small "Details".
          summaryClassName ?? "text-xs font-medium text-fg-subtle 2xl:text-sm",
        )}
      >
        <span className="min-w-0 break-words">{label}</span>
        <span aria-hidden className="inline-block shrink-0 transition-transform group-open/disclosure:rotate-90">
          ›
        </span>
      </summary>
      {children}
    </details>
  );
}
