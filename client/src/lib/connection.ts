// The connection in words, for the header's indicator and the one banner. The protocol client's status
// says "offline" both when the browser has no network and after several failed attempts in a row; a
// person needs to know which: their own network ("You're offline") or the server ("Server unreachable").
// Pure: the clock and navigator.onLine are parameters.
import type { ConnectionStatus } from "@/protocol";
import { secondsUntil } from "./format";

export type ConnectionKind = "live" | "connecting" | "reconnecting" | "unreachable" | "offline" | "closed";

export function connectionKind(status: ConnectionStatus, browserOnline: boolean): ConnectionKind {
  switch (status.state) {
    case "live":
      return "live";
    case "connecting":
      return "connecting";
    case "reconnecting":
      return browserOnline ? "reconnecting" : "offline";
    case "offline":
      return browserOnline ? "unreachable" : "offline";
    case "closed":
      return "closed";
    default:
      return "connecting";
  }
}

/** True when what the page shows cannot be refreshed now (the banner is up). */
export function isDown(kind: ConnectionKind): boolean {
  return kind === "reconnecting" || kind === "unreachable" || kind === "offline" || kind === "closed";
}

/** The header's words for the connection. */
export function connectionLabel(status: ConnectionStatus, nowMs: number, browserOnline = true): string {
  const kind = connectionKind(status, browserOnline);
  switch (kind) {
    case "live":
      return "Live";
    case "connecting":
      return "Connecting…";
    case "reconnecting": {
      if (status.retryAtMs === undefined) return "Reconnecting…";
      const s = secondsUntil(status.retryAtMs, nowMs);
      return s > 0 ? `Reconnecting in ${s}s` : "Reconnecting…";
    }
    case "unreachable":
      return "Server unreachable";
    case "offline":
      return "You're offline";
    case "closed": {
      const reason = status.fatal ?? status.lastClose?.reason;
      return reason ? `Disconnected: ${reason}` : "Disconnected";
    }
  }
}

/** The one banner's words, or null when there is nothing to say (live, or the first connection). */
export function bannerText(status: ConnectionStatus, nowMs: number, browserOnline = true): string | null {
  const kind = connectionKind(status, browserOnline);
  switch (kind) {
    case "live":
    case "connecting":
      return null;
    case "offline":
      return "You're offline — showing what was last loaded. gamif reconnects when your network is back.";
    case "closed": {
      const reason = status.fatal ?? status.lastClose?.reason;
      return `Disconnected from gamif${reason ? ` (${reason})` : ""} — reload to reconnect.`;
    }
    case "reconnecting":
    case "unreachable": {
      const s = status.retryAtMs === undefined ? 0 : secondsUntil(status.retryAtMs, nowMs);
      return s > 0 ? `Can't reach gamif — retrying in ${s} s` : "Can't reach gamif — retrying now…";
    }
  }
}
