// What the award events leave on screen beyond the toast: the recent XP awards (listed under the XP bar),
// the "+N XP" floaters in flight, and the level-up celebration. Filled by the shell's AwardsListener.
import { create } from "zustand";
import type { LevelUp, XpAward } from "@/lib/awards";
import { formatXpDelta } from "@/lib/format";

export const RECENT_AWARDS = 5;
/** Awards closer than this to the last floater join it ("+410 XP"): a burst is one floater, not a cloud. */
export const FLOATER_MERGE_MS = 2_500;
const MAX_FLOATERS = 2;

export interface Floater {
  id: string;
  amount: number;
  /** "+12 XP". */
  text: string;
  /** How many awards it sums. */
  count: number;
  /** The award's words (one award), or "3 awards". */
  summary: string;
  bornAtMs: number;
}

interface AwardsState {
  /** Newest first, at most RECENT_AWARDS. */
  recent: XpAward[];
  /** Floaters currently shown (the XP card removes them when their time is up). */
  floaters: Floater[];
  celebration: LevelUp | null;
  addXp(award: XpAward, nowMs?: number): void;
  /** Seed the list from the ledger without floaters (only when nothing live arrived yet). */
  seedRecent(awards: XpAward[]): void;
  removeFloater(id: string): void;
  celebrate(levelUp: LevelUp): void;
  closeCelebration(): void;
  reset(): void;
}

/** The floaters after `award`: merged into the newest one when it is recent and of the same sign. */
export function withFloater(floaters: readonly Floater[], award: XpAward, nowMs: number): Floater[] {
  const last = floaters[floaters.length - 1];
  if (last && nowMs - last.bornAtMs <= FLOATER_MERGE_MS && Math.sign(last.amount) === Math.sign(award.amount)) {
    const amount = last.amount + award.amount;
    const count = last.count + 1;
    return [...floaters.slice(0, -1), { ...last, amount, text: formatXpDelta(amount), count, summary: `${count} awards` }];
  }
  const floater: Floater = { id: award.id, amount: award.amount, text: award.text, count: 1, summary: award.summary, bornAtMs: nowMs };
  return [...floaters, floater].slice(-MAX_FLOATERS);
}

export const useAwards = create<AwardsState>()((set, get) => ({
  recent: [],
  floaters: [],
  celebration: null,
  addXp(award, nowMs = Date.now()) {
    set({
      recent: [award, ...get().recent.filter((a) => a.id !== award.id)].slice(0, RECENT_AWARDS),
      floaters: withFloater(get().floaters, award, nowMs),
    });
  },
  seedRecent(awards) {
    if (get().recent.length > 0) return;
    set({ recent: awards.slice(0, RECENT_AWARDS) });
  },
  removeFloater(id) {
    set({ floaters: get().floaters.filter((f) => f.id !== id) });
  },
  celebrate(levelUp) {
    const current = get().celebration;
    // Several level-ups at once (a replay after time away): celebrate the highest.
    if (current && current.level >= levelUp.level) return;
    set({ celebration: levelUp });
  },
  closeCelebration() {
    set({ celebration: null });
  },
  reset() {
    set({ recent: [], floaters: [], celebration: null });
  },
}));
