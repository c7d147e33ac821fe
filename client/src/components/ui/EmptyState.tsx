import type { ReactNode } from "react";
import { cn } from "./cn";

export interface EmptyStateProps {
  icon?: ReactNode;
  title: ReactNode;
  children?: ReactNode;
  className?: string;
}

/** A friendly "nothing here yet" block. */
export function EmptyState({ icon, title, children, className }: EmptyStateProps) {
  return (
    <div className={cn("flex flex-col items-center gap-1.5 px-4 py-6 text-center", className)}>
      {icon ? (
        <span aria-hidden className="text-3xl 2xl:text-4xl">
          {icon}
        </span>
      ) : null}
      <p className="font-medium text-fg-muted 2xl:text-lg">{title}</p>
      {children ? <div className="text-sm text-fg-subtle 2xl:text-base">{children}</div> : null}
    </div>
  );
}
