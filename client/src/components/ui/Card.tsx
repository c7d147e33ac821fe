import { forwardRef, type HTMLAttributes, type ReactNode } from "react";
import { cn } from "./cn";

export interface CardProps extends HTMLAttributes<HTMLElement> {
  /** Render as another landmark-friendly element (section by default). */
  as?: "section" | "article" | "div" | "aside";
  /** Adds the accent glow (for the hero card). */
  glow?: boolean;
  /** Inner padding; "none" for edge-to-edge content. */
  padding?: "none" | "sm" | "md" | "lg";
}

const PADDING = { none: "", sm: "p-3", md: "p-4 sm:p-5 2xl:p-7", lg: "p-5 sm:p-7 2xl:p-9" } as const;

/** A glassmorphism surface: translucent, blurred backdrop, hairline border, soft glow. */
export const Card = forwardRef<HTMLElement, CardProps>(function Card(
  { as: Tag = "section", glow, padding = "md", className, children, ...rest },
  ref,
) {
  return (
    <Tag
      ref={ref as never}
      className={cn(
        "relative min-w-0 rounded-2xl border border-white/10 bg-ink-800/60 shadow-card backdrop-blur-xl supports-[backdrop-filter]:bg-ink-800/45",
        glow && "shadow-glow border-accent/30",
        PADDING[padding],
        className,
      )}
      {...rest}
    >
      {children}
    </Tag>
  );
});

export interface CardHeaderProps {
  title: ReactNode;
  /** Heading level for the document outline (h2 by default). */
  level?: 2 | 3;
  icon?: ReactNode;
  /** Right-aligned content: a count, a LiveDot, a link. */
  aside?: ReactNode;
  id?: string;
  className?: string;
}

export function CardHeader({ title, level = 2, icon, aside, id, className }: CardHeaderProps) {
  const H = level === 2 ? "h2" : "h3";
  return (
    <div className={cn("mb-3 flex items-center justify-between gap-3 2xl:mb-5", className)}>
      <H id={id} className="flex min-w-0 items-center gap-2 text-sm font-semibold uppercase tracking-wider text-fg-muted 2xl:text-lg">
        {icon ? <span aria-hidden className="text-base 2xl:text-2xl">{icon}</span> : null}
        <span className="truncate">{title}</span>
      </H>
      {aside ? <div className="flex shrink-0 items-center gap-2">{aside}</div> : null}
    </div>
  );
}
