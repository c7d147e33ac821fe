"use client";

import { useCallback, useRef } from "react";
import type { ServerEvent } from "@/protocol";
import { api } from "@/lib/api";
import { AwardDeduper, handleAwardEvent } from "@/lib/awards";
import { useAwards } from "@/stores/awards";
import { useServerEvents, useTopic } from "@/stores/live";
import { toast } from "@/stores/toasts";

// One per tab: survives page changes, so a notification replayed after a reconnect shows once.
const deduper = new AwardDeduper();
const markedRead = new Set<number>();

function markRead(id: number): void {
  if (markedRead.has(id)) return;
  markedRead.add(id);
  api(`/me/notifications/${id}/read`, { method: "POST" }).catch(() => {
    // Not fatal: the next session replays it and the deduper (or the next screen) handles it.
    markedRead.delete(id);
  });
}

/**
 * Turns award events into toasts, floaters and the level-up celebration, on every page. Keeps the own
 * `user:` topic watched so its events (and the replay of unread notifications) flow everywhere.
 */
export function AwardsListener({ userId }: { userId: string }) {
  const addXp = useAwards((s) => s.addXp);
  const celebrate = useAwards((s) => s.celebrate);
  const ctx = useRef({ userId });
  ctx.current.userId = userId;

  const onEvent = useCallback(
    (event: ServerEvent) => {
      handleAwardEvent(event, ctx.current, deduper, { toast, xp: addXp, levelUp: celebrate, markRead });
    },
    [addXp, celebrate],
  );
  // Listen before subscribing, so the replay that follows the subscription is heard.
  useServerEvents(onEvent);
  useTopic(`user:${userId}`);
  return null;
}
