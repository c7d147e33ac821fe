"use client";

import { useEffect, useState } from "react";
import type { ConnectionStatus } from "@/protocol";
import { connectionKind, type ConnectionKind } from "@/lib/connection";
import { useBrowserOnline } from "@/lib/hooks";
import { useConnection } from "@/stores/live";

export interface ConnectionView {
  status: ConnectionStatus;
  kind: ConnectionKind;
  online: boolean;
  /** The clock, ticking each second while a retry is counted down. */
  nowMs: number;
}

/** The connection as the shell shows it: the protocol status, the browser's network, a countdown clock. */
export function useConnectionView(): ConnectionView {
  const status = useConnection();
  const online = useBrowserOnline();
  const [nowMs, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (status.retryAtMs === undefined) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [status.retryAtMs]);
  return { status, kind: connectionKind(status, online), online, nowMs };
}
