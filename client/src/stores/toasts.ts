// Toasts: a small store (no React in the logic) with auto-expiry that pauses while the user hovers or
// focuses a toast. Timers and the clock are injectable so tests drive them without waiting.
import { useStore } from "zustand";
import { createStore, type StoreApi } from "zustand/vanilla";

export type ToastTone = "info" | "success" | "warning" | "danger" | "xp";

/** A line of a merged toast (one award of a burst): its words, its XP, its details on expand. */
export interface ToastItem {
  icon?: string;
  text: string;
  /** "+25 XP". */
  xp?: string;
  /** The arithmetic, rule and version: shown only when the list is expanded. */
  detail?: string;
}

export interface ToastInput {
  title: string;
  body?: string;
  tone?: ToastTone;
  /** How long it stays, ms (default 6000; 0 or Infinity: until dismissed). */
  ttlMs?: number;
  /** Pushing a toast with an id already shown updates it instead of adding a second one. */
  id?: string;
  /** A leading emoji/icon (decorative). */
  icon?: string;
  /** Extra detail (e.g. an award's arithmetic), shown only on expand. */
  detail?: string;
  /** The lines of a merged toast, shown on expand. */
  items?: ToastItem[];
}

export interface Toast {
  id: string;
  title: string;
  body?: string;
  detail?: string;
  items?: ToastItem[];
  icon?: string;
  tone: ToastTone;
  ttlMs: number;
  createdAtMs: number;
  paused: boolean;
  /** Time left before it expires, as of `startedAtMs` (when its current countdown started). */
  remainingMs: number;
  startedAtMs: number;
}

export interface ToastTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface ToastState {
  toasts: Toast[];
  push(input: ToastInput): string;
  dismiss(id: string): void;
  /** Stop the countdown (hover, focus). */
  pause(id: string): void;
  /** Resume the countdown with the time that was left. */
  resume(id: string): void;
  clear(): void;
}

export interface ToastStoreOptions {
  timers?: ToastTimers;
  /** The most kept at once: older ones are dropped (default 2: one feedback channel per moment; the
   * Toaster shows one of them on a phone). */
  max?: number;
  defaultTtlMs?: number;
}

const realTimers: ToastTimers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

export const DEFAULT_TTL_MS = 6000;
export const MAX_TOASTS = 2;

export function createToastStore(options: ToastStoreOptions = {}): StoreApi<ToastState> {
  const timers = options.timers ?? realTimers;
  const max = options.max ?? MAX_TOASTS;
  const defaultTtl = options.defaultTtlMs ?? DEFAULT_TTL_MS;
  const handles = new Map<string, unknown>();
  let counter = 0;

  function stopTimer(id: string) {
    if (handles.has(id)) {
      timers.clearTimeout(handles.get(id));
      handles.delete(id);
    }
  }

  return createStore<ToastState>()((set, get) => {
    function startTimer(id: string, ms: number) {
      stopTimer(id);
      if (!Number.isFinite(ms) || ms <= 0) return;
      handles.set(
        id,
        timers.setTimeout(() => {
          handles.delete(id);
          get().dismiss(id);
        }, ms),
      );
    }

    return {
      toasts: [],

      push(input) {
        const id = input.id ?? `t${++counter}`;
        const ttl = input.ttlMs ?? defaultTtl;
        const now = timers.now();
        const toast: Toast = {
          id,
          title: input.title,
          body: input.body,
          detail: input.detail,
          items: input.items,
          icon: input.icon,
          tone: input.tone ?? "info",
          ttlMs: ttl,
          createdAtMs: now,
          paused: false,
          remainingMs: ttl,
          startedAtMs: now,
        };
        const existing = get().toasts.some((t) => t.id === id);
        let next = existing ? get().toasts.map((t) => (t.id === id ? toast : t)) : [...get().toasts, toast];
        while (next.length > max) {
          const dropped = next[0];
          if (dropped) stopTimer(dropped.id);
          next = next.slice(1);
        }
        set({ toasts: next });
        startTimer(id, ttl);
        return id;
      },

      dismiss(id) {
        stopTimer(id);
        if (!get().toasts.some((t) => t.id === id)) return;
        set({ toasts: get().toasts.filter((t) => t.id !== id) });
      },

      pause(id) {
        const now = timers.now();
        set({
          toasts: get().toasts.map((t) => {
            if (t.id !== id || t.paused) return t;
            stopTimer(id);
            return { ...t, paused: true, remainingMs: Math.max(0, t.remainingMs - (now - t.startedAtMs)) };
          }),
        });
      },

      resume(id) {
        const now = timers.now();
        const toast = get().toasts.find((t) => t.id === id);
        if (!toast || !toast.paused) return;
        // Give at least a moment after the pointer leaves, so it does not vanish under the hand.
        const remaining = Number.isFinite(toast.ttlMs) && toast.ttlMs > 0 ? Math.max(1500, toast.remainingMs) : toast.remainingMs;
        set({
          toasts: get().toasts.map((t) => (t.id === id ? { ...t, paused: false, remainingMs: remaining, startedAtMs: now } : t)),
        });
        startTimer(id, remaining);
      },

      clear() {
        for (const id of [...handles.keys()]) stopTimer(id);
        set({ toasts: [] });
      },
    };
  });
}

/** The app's toast store. */
export const toastStore = createToastStore();

/** Show a toast; returns its id (pass `id` to update one in place). */
export function toast(input: ToastInput): string {
  return toastStore.getState().push(input);
}

export function dismissToast(id: string): void {
  toastStore.getState().dismiss(id);
}

export function useToasts<T>(selector: (state: ToastState) => T): T {
  return useStore(toastStore, selector);
}
