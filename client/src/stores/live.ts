// The live connection, bound to React: one GamifClient for the logged-in account, topic views through
// useSyncExternalStore (a view is an immutable object per change), the connection status, and events.
"use client";

import { useCallback, useEffect, useSyncExternalStore } from "react";
import { GamifClient, type ConnectionStatus, type ServerEvent, type TopicView } from "@/protocol";
import { hubWebSocketUrl } from "@/lib/config";
import { accessToken, useSession } from "./session";

let client: GamifClient | null = null;
let clientAccount: string | null = null;

/** The client of the logged-in account (created on first use, replaced when the account changes). */
export function liveClient(): GamifClient | null {
  if (typeof window === "undefined") return null;
  const account = useSession.getState().account;
  if (!account) {
    stopLive();
    return null;
  }
  if (client && clientAccount === account.id) return client;
  stopLive();
  client = new GamifClient({ url: hubWebSocketUrl(), token: accessToken });
  clientAccount = account.id;
  client.start();
  return client;
}

export function stopLive(): void {
  for (const entry of watched.values()) clearTimeout(entry.linger);
  watched.clear();
  client?.close();
  client = null;
  clientAccount = null;
}

useSession.subscribe((state, previous) => {
  if (state.account?.id !== previous.account?.id) stopLive();
});

const OFFLINE: ConnectionStatus = { state: "connecting" };

// One client watch per topic, shared by every component showing it. When the last component leaves, the
// watch lingers a few seconds: page changes and React's strict-mode remounts do not unsubscribe and
// subscribe again, and a page coming back finds its topic current.
const LINGER_MS = 5_000;

interface Watched {
  view: TopicView<unknown>;
  notify: Set<() => void>;
  unwatch: () => void;
  linger?: ReturnType<typeof setTimeout>;
}

const watched = new Map<string, Watched>();

function attach(topic: string, notify: () => void): () => void {
  const live = liveClient();
  if (!live) return () => undefined;
  let entry = watched.get(topic);
  if (!entry) {
    const created: Watched = { view: emptyView(topic), notify: new Set(), unwatch: () => undefined };
    watched.set(topic, created);
    created.unwatch = live.watch<unknown>(topic, (next) => {
      created.view = next;
      for (const callback of created.notify) callback();
    });
    entry = created;
  }
  clearTimeout(entry.linger);
  entry.notify.add(notify);
  const held = entry;
  return () => {
    held.notify.delete(notify);
    if (held.notify.size > 0) return;
    held.linger = setTimeout(() => {
      if (held.notify.size > 0 || watched.get(topic) !== held) return;
      watched.delete(topic);
      held.unwatch();
    }, LINGER_MS);
  };
}

function emptyView<Doc>(topic: string): TopicView<Doc> {
  return { topic, doc: null, epoch: null, offset: null, fresh: false };
}

/** A topic's live view; a `null` topic watches nothing. Re-renders on every change of that topic. */
export function useTopic<Doc>(topic: string | null): TopicView<Doc> {
  const key = topic ?? "";
  const subscribe = useCallback((notify: () => void) => (topic ? attach(topic, notify) : () => undefined), [topic]);
  return useSyncExternalStore(
    subscribe,
    () => (watched.get(key)?.view as TopicView<Doc> | undefined) ?? cachedEmpty<Doc>(key),
    () => cachedEmpty<Doc>(key),
  );
}

const empties = new Map<string, TopicView<unknown>>();
function cachedEmpty<Doc>(topic: string): TopicView<Doc> {
  let view = empties.get(topic);
  if (!view) {
    view = emptyView<unknown>(topic);
    empties.set(topic, view);
  }
  return view as TopicView<Doc>;
}

let lastStatus: ConnectionStatus = OFFLINE;

/** The connection's state: live, connecting, reconnecting, offline or closed. */
function watchStatus(notify: () => void): () => void {
  const live = liveClient();
  if (!live) return () => undefined;
  return live.onStatus((status) => {
    lastStatus = status;
    notify();
  });
}

export function useConnection(): ConnectionStatus {
  return useSyncExternalStore(watchStatus, () => lastStatus, () => OFFLINE);
}

/** Calls `listener` for every event the hub pushes while the component is mounted. */
export function useServerEvents(listener: (event: ServerEvent) => void): void {
  useEffect(() => {
    const live = liveClient();
    if (!live) return undefined;
    return live.onEvent(listener);
  }, [listener]);
}

// With a stored session, connect as soon as this module loads and ask for the player's own topic: the
// handshake, `auth` and the first snapshot overlap React's hydration instead of following it. The early
// watch is let go at once; it lingers until the components that show the topic take it over.
if (typeof window !== "undefined") {
  const account = useSession.getState().account;
  if (account) attach(`user:${account.id}`, () => undefined)();
}
