// Who is logged in: the token pair (kept in localStorage so a reload stays logged in) and the account.
// Refresh tokens rotate and a reused one revokes its whole family, so refreshes are single-flight.
import { create } from "zustand";
import { persist } from "zustand/middleware";
import { api, useTokenSource } from "@/lib/api";
import { TokenUnavailableError } from "@/protocol";

export interface Account {
  id: string;
  handle: string;
  display_name: string;
  role: string;
  timezone: string;
}

interface TokenPair {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
}

interface SessionState {
  account: Account | null;
  accessToken: string | null;
  accessExpiresAtMs: number;
  refreshToken: string | null;
  login(login: string, password: string): Promise<void>;
  logout(): Promise<void>;
  /** A new access token (rotating the refresh token), or null when the session is over. */
  refresh(): Promise<string | null>;
}

let inflight: Promise<string | null> | null = null;

/** One refresh at a time across this browser's tabs (Web Locks), else within this tab. */
async function acrossTabs<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  return locks ? await locks.request("gamif.session.refresh", work) : await work();
}

export const useSession = create<SessionState>()(
  persist(
    (set, get) => ({
      account: null,
      accessToken: null,
      accessExpiresAtMs: 0,
      refreshToken: null,

      async login(login, password) {
        const pair = await api<TokenPair>("/auth/login", { body: { login, password }, anonymous: true });
        set(tokensOf(pair));
        const me = await api<{ user: Account }>("/me");
        set({ account: pick(me.user) });
      },

      async logout() {
        const refreshToken = get().refreshToken;
        set({ account: null, accessToken: null, accessExpiresAtMs: 0, refreshToken: null });
        if (refreshToken) {
          await api("/auth/logout", { body: { refresh_token: refreshToken }, anonymous: true }).catch(() => undefined);
        }
      },

      refresh() {
        inflight ??= acrossTabs(async () => {
          // Another tab may have rotated the refresh token (or logged out) since this one last read it:
          // reusing a rotated token revokes the whole family, so read what is stored first.
          const before = get().accessToken;
          await useSession.persist.rehydrate();
          const stored = get();
          if (!stored.refreshToken) return null;
          if (stored.accessToken && stored.accessToken !== before && stored.accessExpiresAtMs - Date.now() > 60_000) {
            return stored.accessToken;
          }
          try {
            const pair = await api<TokenPair>("/auth/refresh", {
              body: { refresh_token: stored.refreshToken },
              anonymous: true,
            });
            set(tokensOf(pair));
            return pair.access_token;
          } catch (error) {
            // A refused refresh token ends the session; a network failure keeps it for a later try.
            if (error instanceof Error && "status" in error && (error as { status: number }).status !== 0) {
              set({ account: null, accessToken: null, accessExpiresAtMs: 0, refreshToken: null });
            }
            return null;
          }
        }).finally(() => {
          inflight = null;
        });
        return inflight;
      },
    }),
    {
      name: "gamif.session",
      partialize: (s) => ({
        account: s.account,
        accessToken: s.accessToken,
        accessExpiresAtMs: s.accessExpiresAtMs,
        refreshToken: s.refreshToken,
      }),
    },
  ),
);

function tokensOf(pair: TokenPair) {
  return {
    accessToken: pair.access_token,
    accessExpiresAtMs: Date.now() + pair.expires_in * 1000,
    refreshToken: pair.refresh_token,
  };
}

function pick(user: Account): Account {
  return { id: user.id, handle: user.handle, display_name: user.display_name, role: user.role, timezone: user.timezone };
}

// A login, refresh or logout in another tab applies here too.
if (typeof window !== "undefined" && typeof window.addEventListener === "function") {
  window.addEventListener("storage", (event) => {
    if (event.key === "gamif.session") void useSession.persist.rehydrate();
  });
}

useTokenSource({
  accessToken: () => useSession.getState().accessToken,
  refresh: () => useSession.getState().refresh(),
});

/** For the protocol client: the current token, or a new one when `fresh` (refused, or close to expiry). */
export async function accessToken(fresh: boolean): Promise<string> {
  const state = useSession.getState();
  const expiring = state.accessExpiresAtMs - Date.now() < 30_000;
  if (!fresh && !expiring && state.accessToken) return state.accessToken;
  const renewed = await state.refresh();
  if (renewed) return renewed;
  // Logged out (the refresh token was refused, or another tab logged out): the client stops. Otherwise the
  // server could not be reached: the client tries again with backoff.
  if (!useSession.getState().refreshToken) throw new TokenUnavailableError("logged out");
  throw new Error("the session could not be refreshed (network)");
}
