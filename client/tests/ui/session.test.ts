import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api } from "@/lib/api";
import { TokenUnavailableError } from "@/protocol";
import { accessToken, useSession } from "@/stores/session";

// An in-memory localStorage for zustand's persist (bound when the store module loads, hence hoisted).
vi.hoisted(() => {
  const data = new Map<string, string>();
  const storage = {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
    clear: () => data.clear(),
    key: (i: number) => [...data.keys()][i] ?? null,
    get length() {
      return data.size;
    },
  };
  // zustand reads window.localStorage; Node's own experimental localStorage is a getter: replace it.
  Object.defineProperty(globalThis, "localStorage", { value: storage, configurable: true, writable: true });
  (globalThis as { window?: unknown }).window = { localStorage: storage, location: { href: "http://localhost/", origin: "http://localhost", hostname: "localhost" } };
});

const ACCOUNT = { id: "u-1", handle: "ana", display_name: "Ana", role: "player", timezone: "UTC", email: "a@x" };

function pair(n: number) {
  return { access_token: `access-${n}`, token_type: "Bearer", expires_in: 900, refresh_token: `refresh-${n}`, refresh_expires_in: 86400 };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function problem(status: number, type: string, title: string): Response {
  return json({ type: `https://gamif.dev/problems/${type}`, title, status, detail: title }, status);
}

type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;

function stubFetch(handler: Handler) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => handler(new URL(String(input)), init));
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

function reset(state: Partial<ReturnType<typeof useSession.getState>> = {}) {
  useSession.setState({ account: null, accessToken: null, accessExpiresAtMs: 0, refreshToken: null, ...state });
}

beforeEach(() => reset());
afterEach(() => vi.unstubAllGlobals());

describe("session", () => {
  it("login stores the tokens and the account", async () => {
    const fetchMock = stubFetch((url, init) => {
      if (url.pathname === "/api/v1/auth/login") {
        expect(JSON.parse(String(init.body))).toEqual({ login: "ana", password: "pw" });
        expect((init.headers as Record<string, string>).authorization).toBeUndefined();
        return json(pair(1));
      }
      if (url.pathname === "/api/v1/me") {
        expect((init.headers as Record<string, string>).authorization).toBe("Bearer access-1");
        return json({ user: ACCOUNT, teams: [] });
      }
      throw new Error(`unexpected ${url}`);
    });
    await useSession.getState().login("ana", "pw");
    const state = useSession.getState();
    expect(state.accessToken).toBe("access-1");
    expect(state.refreshToken).toBe("refresh-1");
    expect(state.accessExpiresAtMs).toBeGreaterThan(Date.now());
    expect(state.account).toEqual({ id: "u-1", handle: "ana", display_name: "Ana", role: "player", timezone: "UTC" });
    expect(fetchMock).toHaveBeenCalledTimes(2);
    // Persisted, so a reload stays logged in.
    expect(JSON.parse(localStorage.getItem("gamif.session") ?? "{}").state.refreshToken).toBe("refresh-1");
  });

  it("a refused login leaves the session empty and throws the problem", async () => {
    stubFetch(() => problem(401, "invalid_credentials", "Wrong login or password"));
    await expect(useSession.getState().login("ana", "nope")).rejects.toMatchObject({ status: 401, code: "invalid_credentials" });
    expect(useSession.getState().account).toBeNull();
    expect(useSession.getState().accessToken).toBeNull();
  });

  it("concurrent refreshes make one request (single-flight) and share its token", async () => {
    reset({ account: ACCOUNT, accessToken: "old", refreshToken: "refresh-0" });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetchMock = stubFetch(async (url, init) => {
      expect(url.pathname).toBe("/api/v1/auth/refresh");
      expect(JSON.parse(String(init.body))).toEqual({ refresh_token: "refresh-0" });
      await gate;
      return json(pair(2));
    });
    const all = Promise.all([useSession.getState().refresh(), useSession.getState().refresh(), useSession.getState().refresh()]);
    release();
    expect(await all).toEqual(["access-2", "access-2", "access-2"]);
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(useSession.getState().refreshToken).toBe("refresh-2");
    // A later refresh is a new request, with the rotated token.
    stubFetch((_url, init) => {
      expect(JSON.parse(String(init.body))).toEqual({ refresh_token: "refresh-2" });
      return json(pair(3));
    });
    expect(await useSession.getState().refresh()).toBe("access-3");
  });

  it("takes the tokens another tab rotated meanwhile instead of reusing the spent refresh token", async () => {
    reset({ account: ACCOUNT, accessToken: "access-1", accessExpiresAtMs: Date.now() + 1_000, refreshToken: "refresh-1" });
    // Another tab refreshed: it stored the rotated pair (zustand persist's format) where this one reads.
    const theirs = { account: ACCOUNT, accessToken: "access-2", accessExpiresAtMs: Date.now() + 900_000, refreshToken: "refresh-2" };
    localStorage.setItem("gamif.session", JSON.stringify({ state: theirs, version: 0 }));
    const fetchMock = stubFetch(() => json(pair(9)));
    expect(await useSession.getState().refresh()).toBe("access-2");
    expect(fetchMock).not.toHaveBeenCalled();
    expect(useSession.getState().refreshToken).toBe("refresh-2");
    // Once that token is ours too, the next refresh spends it (and only it).
    stubFetch((_url, init) => {
      expect(JSON.parse(String(init.body))).toEqual({ refresh_token: "refresh-2" });
      return json(pair(3));
    });
    expect(await useSession.getState().refresh()).toBe("access-3");
  });

  it("tells the live client to stop when logged out, and to retry when the network failed", async () => {
    reset({ account: ACCOUNT, accessToken: "access-1", refreshToken: "refresh-1" });
    stubFetch(() => {
      throw new TypeError("fetch failed");
    });
    const offline = await accessToken(true).catch((error: unknown) => error);
    expect(offline).toBeInstanceOf(Error);
    expect(offline).not.toBeInstanceOf(TokenUnavailableError);
    expect(useSession.getState().refreshToken).toBe("refresh-1");

    stubFetch(() => problem(401, "invalid-refresh-token", "Refresh token revoked"));
    await expect(accessToken(true)).rejects.toBeInstanceOf(TokenUnavailableError);
    expect(useSession.getState().account).toBeNull();
  });

  it("a logout in another tab ends this one's session at its next refresh", async () => {
    reset({ account: ACCOUNT, accessToken: "access-1", refreshToken: "refresh-1" });
    localStorage.setItem("gamif.session", JSON.stringify({ state: { account: null, accessToken: null, accessExpiresAtMs: 0, refreshToken: null }, version: 0 }));
    const fetchMock = stubFetch(() => json(pair(9)));
    expect(await useSession.getState().refresh()).toBeNull();
    expect(fetchMock).not.toHaveBeenCalled();
    expect(useSession.getState().account).toBeNull();
  });

  it("a refused refresh logs out", async () => {
    reset({ account: ACCOUNT, accessToken: "old", refreshToken: "revoked" });
    stubFetch(() => problem(401, "invalid_token", "Refresh token revoked"));
    expect(await useSession.getState().refresh()).toBeNull();
    const state = useSession.getState();
    expect(state.account).toBeNull();
    expect(state.accessToken).toBeNull();
    expect(state.refreshToken).toBeNull();
  });

  it("a network failure keeps the session for a later try", async () => {
    reset({ account: ACCOUNT, accessToken: "old", refreshToken: "refresh-0" });
    stubFetch(() => {
      throw new TypeError("fetch failed");
    });
    expect(await useSession.getState().refresh()).toBeNull();
    const state = useSession.getState();
    expect(state.account).toEqual(ACCOUNT);
    expect(state.refreshToken).toBe("refresh-0");
  });

  it("the API client refreshes once on a 401 and retries with the new token", async () => {
    reset({ account: ACCOUNT, accessToken: "expired", refreshToken: "refresh-0" });
    const seen: string[] = [];
    stubFetch((url, init) => {
      const auth = (init.headers as Record<string, string>).authorization ?? "";
      seen.push(`${url.pathname} ${auth}`);
      if (url.pathname === "/api/v1/auth/refresh") return json(pair(5));
      return auth === "Bearer access-5" ? json({ ok: true }) : problem(401, "invalid_token", "expired");
    });
    expect(await api<{ ok: boolean }>("/me")).toEqual({ ok: true });
    expect(seen).toEqual(["/api/v1/me Bearer expired", "/api/v1/auth/refresh ", "/api/v1/me Bearer access-5"]);
  });

  it("logout clears the session and revokes the refresh token", async () => {
    reset({ account: ACCOUNT, accessToken: "a", refreshToken: "refresh-9" });
    const fetchMock = stubFetch((url, init) => {
      expect(url.pathname).toBe("/api/v1/auth/logout");
      expect(JSON.parse(String(init.body))).toEqual({ refresh_token: "refresh-9" });
      return new Response(null, { status: 204 });
    });
    await useSession.getState().logout();
    expect(useSession.getState().account).toBeNull();
    expect(useSession.getState().refreshToken).toBeNull();
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });
});
