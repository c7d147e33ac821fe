"use client";

import { useEffect, useState } from "react";
import type { ConnectionStatus } from "@/protocol";
import { useConnection } from "@/stores/live";
import { cn } from "@/components/ui/cn";
import { secondsUntil } from "@/lib/format";

/** The words for a connection status (exported for tests and for other pages). */
export function connectionLabel(status: ConnectionStatus, nowMs: number): string {
  switch (status.state) {
    case "live":
      return "Live";
    case "connecting":
      return "Connecting…";
    case "reconnecting": {
      if (status.retryAtMs === undefined) return "Reconnecting…";
      const s = secondsUntil(status.retryAtMs, nowMs);
      return s > 0 ? `Reconnecting in ${s}s` : "Reconnecting…";
    }
    case "offline":
      return "Offline";
    case "closed": {
      const reason = status.fatal ?? status.lastClose?.reason;
      return reason ? `Disconnected: ${reason}` : "Disconnected";
    }
    default:
      return "Connecting…";
  }
}

const STYLE: Record<ConnectionStatus["state"], { dot: string; text: string; ring: string }> = {
  live: { dot: "bg-success", text: "text-success-soft", ring: "border-success/30 bg-success/10" },
  connecting: { dot: "bg-info", text: "text-info-soft", ring: "border-info/30 bg-info/10" },
  reconnecting: { dot: "bg-warn", text: "text-warn-soft", ring: "border-warn/35 bg-warn/10" },
  offline: { dot: "bg-fg-subtle", text: "text-fg-muted", ring: "border-white/15 bg-white/5" },
  closed: { dot: "bg-danger", text: "text-danger-soft", ring: "border-danger/40 bg-danger/10" },
};

/** Always visible in the top bar: is what I see live? */
export function ConnectionIndicator({ className }: { className?: string }) {
  const status = useConnection();
  const [now, setNow] = useState(() => Date.now());

  // Tick once a second only while counting down to a retry.
  useEffect(() => {
    if (status.state !== "reconnecting" || status.retryAtMs === undefined) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [status.state, status.retryAtMs]);

  const label = connectionLabel(status, now);
  const style = STYLE[status.state] ?? STYLE.connecting;
  const title =
    status.state === "live" && status.rttMs !== undefined
      ? `Live · ${Math.round(status.rttMs)} ms round trip`
      : status.lastClose
        ? `${label} (close ${status.lastClose.code}${status.lastClose.reason ? `: ${status.lastClose.reason}` : ""})`
        : label;

  return (
    <div
      data-testid="connection"
      data-state={status.state}
      role="status"
      title={title}
      className={cn(
        "inline-flex max-w-[11rem] min-w-0 items-center gap-2 rounded-full border px-2.5 py-1 text-xs font-semibold sm:max-w-xs 2xl:px-4 2xl:py-1.5 2xl:text-base",
        style.ring,
        style.text,
        className,
      )}
    >
      <span className="relative inline-flex size-2.5 shrink-0" aria-hidden>
        {status.state === "live" || status.state === "connecting" || status.state === "reconnecting" ? (
          <span className={cn("absolute inset-0 rounded-full animate-pulse-ring motion-reduce:hidden", style.dot)} />
        ) : null}
        <span className={cn("relative inline-block size-2.5 rounded-full", style.dot)} />
      </span>
      <span className="truncate">{label}</span>
      {status.state === "closed" ? (
        // Closed for good (a close code that says not to retry on its own): retrying is the user's call.
        <button
          type="button"
          onClick={() => window.location.reload()}
          className="shrink-0 rounded-full border border-danger/40 px-2 py-0.5 text-[0.7rem] hover:bg-danger/20 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-danger"
        >
          Retry
        </button>
      ) : null}
    </div>
  );
}
