// What the award events leave on screen beyond toasts: the recent XP awards (listed under the XP bar),
// the "+N XP" floaters in flight, and the level-up celebration. Filled by the shell's AwardsListener.
import { create } from "zustand";
import type { LevelUp, XpAward } from "@/lib/awards";

export const RECENT_AWARDS = 5;
const MAX_FLOATERS = 4;

interface AwardsState {
  /** Newest first, at most RECENT_AWARDS. */
  recent: XpAward[];
  /** Floaters currently rising (the XP card removes them when their animation ends). */
  floaters: XpAward[];
  celebration: LevelUp | null;
  addXp(award: XpAward): void;
  /** Seed the list from the ledger without floaters (only when nothing live arrived yet). */
  seedRecent(awards: XpAward[]): void;
  removeFloater(id: string): void;
  celebrate(levelUp: LevelUp): void;
  closeCelebration(): void;
  reset(): void;
}

export const useAwards = create<AwardsState>()((set, get) => ({
  recent: [],
  floaters: [],
  celebration: null,
  addXp(award) {
    set({
      recent: [award, ...get().recent.filter((a) => a.id !== award.id)].slice(0, RECENT_AWARDS),
      floaters: [...get().floaters, award].slice(-MAX_FLOATERS),
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
