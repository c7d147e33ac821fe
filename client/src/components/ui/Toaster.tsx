"use client";

import { AnimatePresence, motion } from "motion/react";
import { useMediaQuery } from "@/lib/hooks";
import { toastStore, useToasts, type Toast, type ToastTone } from "@/stores/toasts";
import { cn } from "./cn";
import { Disclosure } from "./Disclosure";

/** How many toasts show at once: two, one (compact) on a phone. */
export const SHOWN = { phone: 1, wide: 2 } as const;

const TONE: Record<ToastTone, { ring: string; bar: string; icon: string; title: string }> = {
  info: { ring: "border-info/35", bar: "bg-info", icon: "ℹ️", title: "text-fg" },
  success: { ring: "border-success/40", bar: "bg-success", icon: "✅", title: "text-fg" },
  warning: { ring: "border-warn/45", bar: "bg-warn", icon: "⚠️", title: "text-warn-soft" },
  danger: { ring: "border-danger/50", bar: "bg-danger", icon: "⛔", title: "text-danger-soft" },
  xp: { ring: "border-xp/45 shadow-glow-xp", bar: "bg-xp-gradient", icon: "✨", title: "text-xp-soft" },
};

/** Renders the toast stack in a polite live region (bottom right; above the mobile nav). */
export function Toaster() {
  const all = useToasts((s) => s.toasts);
  const phone = useMediaQuery("(max-width: 639px)");
  const toasts = all.slice(-(phone ? SHOWN.phone : SHOWN.wide));
  return (
    <section
      aria-label="Notifications"
      aria-live="polite"
      aria-relevant="additions text"
      className="pointer-events-none fixed inset-x-2 bottom-20 z-[60] flex flex-col items-stretch gap-2 sm:inset-x-auto sm:right-4 sm:bottom-4 sm:w-96 2xl:w-[30rem]"
    >
      <AnimatePresence initial={false}>
        {toasts.map((t) => (
          <ToastItem key={t.id} toast={t} compact={phone} />
        ))}
      </AnimatePresence>
    </section>
  );
}

function ToastItem({ toast, compact }: { toast: Toast; compact: boolean }) {
  const tone = TONE[toast.tone];
  const { pause, resume, dismiss } = toastStore.getState();
  return (
    <motion.div
      layout
      role="status"
      data-testid="toast"
      data-tone={toast.tone}
      tabIndex={0}
      initial={{ opacity: 0, y: 24, scale: 0.96 }}
      animate={{ opacity: 1, y: 0, scale: 1 }}
      exit={{ opacity: 0, x: 40, transition: { duration: 0.18 } }}
      transition={{ type: "spring", stiffness: 420, damping: 32 }}
      onMouseEnter={() => pause(toast.id)}
      onMouseLeave={() => resume(toast.id)}
      onFocus={() => pause(toast.id)}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) resume(toast.id);
      }}
      onKeyDown={(e) => {
        if (e.key === "Escape") dismiss(toast.id);
      }}
      className={cn(
        "pointer-events-auto relative flex items-start gap-3 overflow-hidden rounded-2xl border bg-ink-800/90 pr-12 text-sm shadow-card backdrop-blur-xl 2xl:p-5 2xl:text-base",
        compact ? "p-2.5" : "p-3.5",
        tone.ring,
      )}
    >
      <span aria-hidden className="mt-0.5 text-lg leading-none 2xl:text-2xl">
        {toast.icon ?? tone.icon}
      </span>
      <div className="min-w-0 flex-1">
        <p data-testid="toast-title" className={cn("font-semibold break-words", tone.title)}>
          {toast.title}
        </p>
        {toast.body ? <p className={cn("mt-0.5 break-words text-fg-muted", compact && "truncate")}>{toast.body}</p> : null}
        {toast.items && toast.items.length > 0 ? (
          <Disclosure label={`All ${toast.items.length} awards`} className="mt-1" data-testid="toast-items">
            <ul className="mt-1 space-y-1.5">
              {toast.items.map((item, i) => (
                <li key={i} className="min-w-0">
                  <span className="flex items-baseline gap-2">
                    {item.xp ? <span className="shrink-0 font-bold text-xp tabular">{item.xp}</span> : null}
                    <span className="min-w-0 break-words text-fg">{item.text}</span>
                  </span>
                  {item.detail ? <span className="block break-words font-mono text-xs text-fg-subtle">{item.detail}</span> : null}
                </li>
              ))}
            </ul>
          </Disclosure>
        ) : toast.detail ? (
          <Disclosure label="Details" className="mt-1">
            <p className="mt-1 break-words font-mono text-xs text-fg-subtle 2xl:text-sm">{toast.detail}</p>
          </Disclosure>
        ) : null}
      </div>
      <button
        type="button"
        onClick={() => dismiss(toast.id)}
        aria-label={`Dismiss: ${toast.title}`}
        className="absolute top-1 right-1 inline-flex size-10 items-center justify-center rounded-lg text-fg-subtle hover:bg-white/10 hover:text-fg"
      >
        <span aria-hidden>✕</span>
      </button>
      {Number.isFinite(toast.ttlMs) && toast.ttlMs > 0 ? (
        <span
          aria-hidden
          key={`${toast.startedAtMs}-${toast.paused}`}
          className={cn("absolute bottom-0 left-0 h-0.5 origin-left motion-reduce:hidden", tone.bar)}
          style={{
            width: "100%",
            ["--from" as string]: String(Math.min(1, toast.remainingMs / toast.ttlMs)),
            animation: toast.paused ? "none" : `toast-countdown ${toast.remainingMs}ms linear forwards`,
            transform: toast.paused ? `scaleX(${toast.remainingMs / toast.ttlMs})` : undefined,
          }}
        />
      ) : null}
    </motion.div>
  );
}
