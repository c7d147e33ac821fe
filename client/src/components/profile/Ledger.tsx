// The XP ledger: every award explained, newest first, paged with "Load more", and kept current by
// re-reading the first page when the user topic moves.
"use client";

import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { Button } from "@/components/ui/Button";
import { ErrorState, SkeletonRows } from "@/components/leaderboard/common";
import { api } from "@/lib/api";
import { mergeLedger } from "@/lib/badges";
import { useDebounced } from "@/lib/hooks";
import { problemMessage } from "@/lib/forms";
import type { LedgerItem } from "./types";

const PAGE = 20;

function when(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms)
    ? iso
    : new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hour12: false }).format(ms);
}

export function Ledger({ liveOffset }: { liveOffset: number | null }) {
  const reduce = useReducedMotion();
  const [items, setItems] = useState<LedgerItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const fresh = useRef(new Set<number>());

  const loadHead = useCallback(async (initial: boolean) => {
    try {
      const page = await api<{ items: LedgerItem[]; next_cursor: string | null }>("/me/ledger", { query: { limit: PAGE } });
      setItems((current) => {
        if (!initial) {
          const known = new Set(current.map((i) => i.id));
          for (const item of page.items) if (!known.has(item.id)) fresh.current.add(item.id);
        }
        return mergeLedger(current, page.items);
      });
      if (initial) setCursor(page.next_cursor);
      setError(null);
      setLoaded(true);
    } catch (e) {
      if (initial) setError(e);
    }
  }, []);

  useEffect(() => {
    void loadHead(true);
  }, [loadHead]);

  const settled = useDebounced(liveOffset, 800);
  const lastOffset = useRef<number | null>(null);
  useEffect(() => {
    if (settled === null) return;
    if (lastOffset.current !== null && lastOffset.current !== settled) void loadHead(false);
    lastOffset.current = settled;
  }, [settled, loadHead]);

  async function loadMore() {
    if (!cursor) return;
    setLoading(true);
    setMoreError(null);
    try {
      const page = await api<{ items: LedgerItem[]; next_cursor: string | null }>("/me/ledger", { query: { limit: PAGE, cursor } });
      setItems((current) => mergeLedger(current, page.items));
      setCursor(page.next_cursor);
    } catch (e) {
      setMoreError(problemMessage(e));
    } finally {
      setLoading(false);
    }
  }

  if (error && !loaded) return <ErrorState error={error} onRetry={() => void loadHead(true)} title="Could not load your XP history" />;
  if (!loaded) return <SkeletonRows count={4} label="Loading your XP history" />;
  if (items.length === 0) return <p className="text-fg-muted">No XP yet — your first award will show up here with its explanation.</p>;

  return (
    <div>
      <ol className="divide-y divide-white/8" aria-label="XP history" data-testid="ledger">
        <AnimatePresence initial={false}>
          {items.map((item) => (
            <motion.li
              key={item.id}
              data-testid="ledger-item"
              initial={reduce || !fresh.current.has(item.id) ? false : { opacity: 0, backgroundColor: "rgba(251,191,36,0.25)" }}
              animate={{ opacity: 1, backgroundColor: "rgba(251,191,36,0)" }}
              transition={{ duration: 1.2 }}
              className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 px-1 py-3 sm:grid-cols-[7rem_5rem_1fr]"
            >
              <span className="text-xs text-fg-subtle sm:text-sm 2xl:text-base">{when(item.created_at)}</span>
              <span className={`text-right font-bold tabular-nums sm:text-left 2xl:text-xl ${item.amount >= 0 ? "text-success-soft" : "text-danger-soft"}`}>
                {item.amount >= 0 ? "+" : "−"}
                {Math.abs(item.amount).toLocaleString("en-US")} XP
              </span>
              <span className="col-span-2 min-w-0 sm:col-span-1">
                <span className="block break-words text-sm text-fg 2xl:text-lg">{item.explanation}</span>
                <span className="block font-mono text-[11px] text-fg-subtle 2xl:text-sm">
                  {item.rule_id} · v{item.rule_version}
                </span>
              </span>
            </motion.li>
          ))}
        </AnimatePresence>
      </ol>
      {moreError ? <p role="alert" className="mt-2 text-sm text-danger-soft">{moreError}</p> : null}
      {cursor ? (
        <div className="mt-3 flex justify-center">
          <Button variant="secondary" size="sm" loading={loading} onClick={() => void loadMore()}>
            Load more
          </Button>
        </div>
      ) : (
        <p className="mt-3 text-center text-xs text-fg-subtle">That is everything.</p>
      )}
    </div>
  );
}
