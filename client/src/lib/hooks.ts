// Small React hooks shared by the leaderboard, challenge, profile and admin pages.
"use client";

import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { useConnection } from "@/stores/live";
import { api, type RequestOptions } from "./api";
import { problemToFields, type FieldErrors } from "./forms";

const noop = () => () => undefined;

/** False on the prerender and the hydrating render, true after: render client-only state after it. */
export function useHydrated(): boolean {
  return useSyncExternalStore(
    noop,
    () => true,
    () => false,
  );
}

/** Whether a CSS media query matches (false on the prerender and the hydrating render). */
export function useMediaQuery(query: string): boolean {
  const subscribe = useCallback(
    (notify: () => void) => {
      const list = window.matchMedia(query);
      list.addEventListener("change", notify);
      return () => list.removeEventListener("change", notify);
    },
    [query],
  );
  return useSyncExternalStore(
    subscribe,
    () => window.matchMedia(query).matches,
    () => false,
  );
}

function subscribeOnline(notify: () => void): () => void {
  window.addEventListener("online", notify);
  window.addEventListener("offline", notify);
  return () => {
    window.removeEventListener("online", notify);
    window.removeEventListener("offline", notify);
  };
}

/** The browser's own network (navigator.onLine): false means the viewer's network, not the server, is down. */
export function useBrowserOnline(): boolean {
  return useSyncExternalStore(
    subscribeOnline,
    () => navigator.onLine,
    () => true,
  );
}

/** The client clock, ticking every `intervalMs`; null until mounted (so prerender and hydration agree). */
export function useNow(intervalMs = 1000, enabled = true): number | null {
  const [now, setNow] = useState<number | null>(null);
  useEffect(() => {
    if (!enabled) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, enabled]);
  return now;
}

export interface Fetched<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload(): void;
}

/**
 * A GET of the HTTP API, redone when `path`/`query` change or `reload()` is called; a null path fetches
 * nothing. Keeps the previous data while a reload is in flight (no flash of skeleton).
 */
export function useApi<T>(path: string | null, query?: RequestOptions["query"]): Fetched<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: path !== null,
  });
  const [tick, setTick] = useState(0);
  const queryKey = JSON.stringify(query ?? {});
  const keyRef = useRef<string | null>(null);

  useEffect(() => {
    if (path === null) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    const key = `${path}?${queryKey}`;
    const sameKey = keyRef.current === key;
    keyRef.current = key;
    const controller = new AbortController();
    setState((s) => ({ data: sameKey ? s.data : null, error: null, loading: true }));
    api<T>(path, { query: JSON.parse(queryKey) as RequestOptions["query"], signal: controller.signal })
      .then((data) => setState({ data, error: null, loading: false }))
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setState((s) => ({ data: s.data, error, loading: false }));
      });
    return () => controller.abort();
  }, [path, queryKey, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  // A read that failed while gamif was unreachable is redone once the live connection is back: the page
  // recovers on its own (the error's "Try again" is for the impatient).
  const live = useConnection().state === "live";
  const failed = state.error !== null;
  useEffect(() => {
    if (live && failed) reload();
    // Only the connection coming back triggers it, not the error itself (that would retry in a loop).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live]);
  return { ...state, reload };
}

/** `value` once it has stopped changing for `delayMs`. */
export function useDebounced<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

/** A form's submission: `run(action)` marks it busy and clears its errors, and a refused request's problem
 * becomes messages on the named fields (the rest on `_form`). */
export function useFormAction(fields: readonly string[]) {
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setErrors({});
    try {
      await action();
    } catch (error) {
      setErrors(problemToFields(error, fields));
    } finally {
      setBusy(false);
    }
  };
  return { errors, setErrors, busy, run };
}
