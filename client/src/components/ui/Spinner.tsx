import { cn } from "./cn";

export interface SpinnerProps {
  size?: "sm" | "md" | "lg";
  /** Accessible label; when omitted the spinner is decorative (aria-hidden). */
  label?: string;
  className?: string;
}

const SIZES = { sm: "size-4 border-2", md: "size-6 border-2", lg: "size-10 border-[3px]" } as const;

export function Spinner({ size = "md", label, className }: SpinnerProps) {
  return (
    <span
      role={label ? "status" : undefined}
      aria-label={label}
      aria-hidden={label ? undefined : true}
      className={cn("inline-flex items-center justify-center", className)}
    >
      <span
        className={cn(
          "inline-block animate-spin rounded-full border-white/20 border-t-accent-2 motion-reduce:animate-none motion-reduce:border-t-white/60",
          SIZES[size],
        )}
      />
    </span>
  );
}
