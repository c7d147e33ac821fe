// The XP ledger: every award in words (its summary), the arithmetic, rule and version on expand; newest first, paged with "Load more", and kept current by
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
import { formatDateTime, formatNumber } from "@/lib/time";
import { Disclosure } from "@/components/ui/Disclosure";
import { ruleLabel } from "@/lib/awards";
import type { LedgerItem } from "./types";

const PAGE = 20;

/** The award's date and time in the viewer's locale and timezone. */
function when(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : formatDateTime(ms);
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
              <time dateTime={item.created_at} className="text-xs text-fg-subtle sm:text-sm 2xl:text-base">
                {when(item.created_at)}
              </time>
              <span className={`text-right font-bold tabular-nums sm:text-left 2xl:text-xl ${item.amount >= 0 ? "text-success-soft" : "text-danger-soft"}`}>
                {item.amount >= 0 ? "+" : "−"}
                {formatNumber(Math.abs(item.amount))} XP
              </span>
              <Disclosure
                className="col-span-2 sm:col-span-1"
                summaryClassName="text-sm font-normal text-fg 2xl:text-lg"
                label={item.summary || item.explanation}
                data-testid="ledger-details"
              >
                {item.summary ? <span className="mt-0.5 block break-words text-sm text-fg-muted 2xl:text-lg">{item.explanation}</span> : null}
                <span className="block font-mono text-[11px] text-fg-subtle 2xl:text-sm">{ruleLabel(item.rule_id, item.rule_version)}</span>
              </Disclosure>
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
