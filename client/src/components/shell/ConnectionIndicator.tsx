"use client";

import { cn } from "@/components/ui/cn";
import { bannerText, connectionLabel, type ConnectionKind } from "@/lib/connection";
import { useConnectionView } from "./useConnectionView";

// Kept here for the callers that import the words from the indicator.
export { connectionLabel } from "@/lib/connection";

const STYLE: Record<ConnectionKind, { dot: string; text: string; ring: string }> = {
  live: { dot: "bg-success", text: "text-success-soft", ring: "border-success/30 bg-success/10" },
  connecting: { dot: "bg-info", text: "text-info-soft", ring: "border-info/30 bg-info/10" },
  reconnecting: { dot: "bg-warn", text: "text-warn-soft", ring: "border-warn/35 bg-warn/10" },
  unreachable: { dot: "bg-warn", text: "text-warn-soft", ring: "border-warn/35 bg-warn/10" },
  offline: { dot: "bg-fg-subtle", text: "text-fg-muted", ring: "border-white/15 bg-white/5" },
  closed: { dot: "bg-danger", text: "text-danger-soft", ring: "border-danger/40 bg-danger/10" },
};

/** Always visible in the top bar: is what I see live? ("You're offline" is the viewer's network;
 * "Server unreachable" is gamif's side.) */
export function ConnectionIndicator({ className }: { className?: string }) {
  const { status, kind, online, nowMs } = useConnectionView();
  const label = connectionLabel(status, nowMs, online);
  const style = STYLE[kind];
  const title =
    kind === "live" && status.rttMs !== undefined
      ? `Live · ${Math.round(status.rttMs)} ms round trip`
      : status.lastClose
        ? `${label} (close ${status.lastClose.code}${status.lastClose.reason ? `: ${status.lastClose.reason}` : ""})`
        : label;

  return (
    <div
      data-testid="connection"
      data-state={kind}
      title={title}
      className={cn(
        "inline-flex max-w-[11rem] min-w-0 items-center gap-2 rounded-full border px-2.5 py-1 text-xs font-semibold sm:max-w-xs 2xl:px-4 2xl:py-1.5 2xl:text-base",
        style.ring,
        style.text,
        className,
      )}
    >
      <span className="relative inline-flex size-2.5 shrink-0" aria-hidden>
        {kind === "live" || kind === "connecting" || kind === "reconnecting" ? (
          <span className={cn("absolute inset-0 rounded-full animate-pulse-ring motion-reduce:hidden", style.dot)} />
        ) : null}
        <span className={cn("relative inline-block size-2.5 rounded-full", style.dot)} />
      </span>
      <span className="truncate">{label}</span>
    </div>
  );
}

/**
 * The ONE place that says the page is not live (instead of a pill on every card): under the top bar,
 * with the retry countdown, or a reload button once the connection ended for good.
 */
export function ConnectionBanner() {
  const { status, kind, online, nowMs } = useConnectionView();
  const text = bannerText(status, nowMs, online);
  // The live region is always there (an added region is not announced); its words change rarely: the
  // countdown's seconds are hidden from screen readers, which hear the sentence once.
  return (
    <div role="status" aria-live="polite">
      {text ? (
        <div
          data-testid="connection-banner"
          data-state={kind}
          className={cn(
            "border-b px-3 py-2 text-center text-sm font-medium sm:px-6 2xl:py-3 2xl:text-lg",
            kind === "closed" ? "border-danger/40 bg-danger/15 text-danger-soft" : kind === "offline" ? "border-white/15 bg-ink-800/95 text-fg" : "border-warn/40 bg-ink-900/95 text-warn-soft",
          )}
        >
          <span aria-hidden>{text}</span>
          <span className="sr-only">{srText(kind)}</span>
          {kind === "closed" ? (
            <button
              type="button"
              onClick={() => window.location.reload()}
              className="ml-3 inline-flex min-h-9 items-center rounded-full border border-danger/50 px-3 text-sm hover:bg-danger/20"
            >
              Reload
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

function srText(kind: ConnectionKind): string {
  switch (kind) {
    case "offline":
      return "You're offline. Showing what was last loaded.";
    case "closed":
      return "Disconnected from gamif. Reload to reconnect.";
    default:
      return "Can't reach gamif. Retrying; showing the last known data.";
  }
}
