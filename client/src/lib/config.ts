// Where the hub is. Served by the hub itself (the static export), the page's own origin is the hub;
// under `npm run dev`, NEXT_PUBLIC_GAMIF_URL names a running hub (default http://127.0.0.1:8000).

const DEV_DEFAULT = "http://127.0.0.1:8000";

export function hubHttpBase(): string {
  const configured = process.env.NEXT_PUBLIC_GAMIF_URL;
  if (configured) return configured.replace(/\/$/, "");
  if (process.env.NODE_ENV === "development") return DEV_DEFAULT;
  return typeof window === "undefined" ? "" : window.location.origin;
}

export function hubWebSocketUrl(): string {
  const base = hubHttpBase() || (typeof window === "undefined" ? "http://localhost" : window.location.origin);
  return base.replace(/^http/, "ws") + "/ws";
}
