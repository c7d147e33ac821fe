"use client";

import { useCallback, useRef } from "react";
import type { ServerEvent } from "@/protocol";
import { api } from "@/lib/api";
import { AwardDeduper, handleAwardEvent, type Moment } from "@/lib/awards";
import { addToBurst, burstToast, type Burst } from "@/lib/bursts";
import { useAwards } from "@/stores/awards";
import { useServerEvents, useTopic } from "@/stores/live";
import { toast, toastStore } from "@/stores/toasts";

// One per tab: survives page changes, so a notification replayed after a reconnect shows once.
const deduper = new AwardDeduper();
const markedRead = new Set<number>();
let burst: Burst | null = null;

function markRead(id: number): void {
  if (markedRead.has(id)) return;
  markedRead.add(id);
  api(`/me/notifications/${id}/read`, { method: "POST" }).catch(() => {
    // Not fatal: the next session replays it and the deduper (or the next screen) handles it.
    markedRead.delete(id);
  });
}

/** An award joins the toast of its burst (updated in place) while that toast is on screen. */
function showMoment(moment: Moment): void {
  const current = burst;
  const showing = current !== null && toastStore.getState().toasts.some((t) => t.id === current.id);
  burst = addToBurst(current, moment, Date.now(), showing);
  toast(burstToast(burst));
}

/**
 * Turns award events into the burst's toast, floaters and the level-up celebration, on every page. Keeps
 * the own `user:` topic watched so its events (and the replay of unread notifications) flow everywhere.
 */
export function AwardsListener({ userId }: { userId: string }) {
  const addXp = useAwards((s) => s.addXp);
  const celebrate = useAwards((s) => s.celebrate);
  const ctx = useRef({ userId });
  ctx.current.userId = userId;

  const onEvent = useCallback(
    (event: ServerEvent) => {
      handleAwardEvent(event, ctx.current, deduper, { toast, moment: showMoment, xp: (award) => addXp(award), levelUp: celebrate, markRead });
    },
    [addXp, celebrate],
  );
  // Listen before subscribing, so the replay that follows the subscription is heard.
  useServerEvents(onEvent);
  useTopic(`user:${userId}`);
  return null;
}
