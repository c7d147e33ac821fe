"use client";

import { useSyncExternalStore } from "react";

const noop = () => () => undefined;

/**
 * False during the static prerender and the first client render (so both render the same HTML), true
 * right after: gate anything that depends on localStorage (the persisted session) behind it.
 */
export function useHydrated(): boolean {
  return useSyncExternalStore(
    noop,
    () => true,
    () => false,
  );
}

/** "/login" and "/login/" alike: always with a trailing slash. */
export function normalizePath(pathname: string | null | undefined): string {
  if (!pathname) return "/";
  return pathname.endsWith("/") ? pathname : `${pathname}/`;
}
