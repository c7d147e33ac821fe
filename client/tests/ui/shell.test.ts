import { describe, expect, it } from "vitest";
import { connectionLabel } from "@/components/shell/ConnectionIndicator";
import { bannerText, connectionKind } from "@/lib/connection";
import { isActive, navItemsFor, normalizePath } from "@/components/shell/nav";
import { avatarColors, initialsOf } from "@/components/ui/Avatar";
import { safeNext } from "@/app/login/LoginScreen";

describe("connection label", () => {
  const now = 10_000;
  it("words every state", () => {
    expect(connectionLabel({ state: "live", rttMs: 12 }, now)).toBe("Live");
    expect(connectionLabel({ state: "connecting" }, now)).toBe("Connecting…");
    expect(connectionLabel({ state: "reconnecting", retryAtMs: now + 2_400 }, now)).toBe("Reconnecting in 3s");
    expect(connectionLabel({ state: "reconnecting", retryAtMs: now - 1 }, now)).toBe("Reconnecting…");
    expect(connectionLabel({ state: "offline" }, now)).toBe("Server unreachable");
    expect(connectionLabel({ state: "offline" }, now, false)).toBe("You're offline");
    expect(connectionLabel({ state: "reconnecting", retryAtMs: now + 2_400 }, now, false)).toBe("You're offline");
    expect(connectionLabel({ state: "closed" }, now)).toBe("Disconnected");
  });
  it("gives the reason of a final close", () => {
    expect(connectionLabel({ state: "closed", lastClose: { code: 4003, reason: "forbidden" } }, now)).toBe("Disconnected: forbidden");
    expect(connectionLabel({ state: "closed", fatal: "auth refused", lastClose: { code: 4001, reason: "auth_failed" } }, now)).toBe("Disconnected: auth refused");
  });
});

describe("the connection banner", () => {
  const now = 10_000;
  it("says nothing while live or on the first connection", () => {
    expect(bannerText({ state: "live" }, now)).toBeNull();
    expect(bannerText({ state: "connecting" }, now)).toBeNull();
  });
  it("tells the server's side from the viewer's network", () => {
    expect(bannerText({ state: "reconnecting", retryAtMs: now + 3_200 }, now)).toBe("Can't reach gamif — retrying in 4 s");
    expect(bannerText({ state: "offline", retryAtMs: now + 3_200 }, now)).toBe("Can't reach gamif — retrying in 4 s");
    expect(bannerText({ state: "offline" }, now)).toBe("Can't reach gamif — retrying now…");
    expect(bannerText({ state: "offline" }, now, false)).toMatch(/^You're offline/);
    expect(connectionKind({ state: "offline" }, true)).toBe("unreachable");
    expect(connectionKind({ state: "offline" }, false)).toBe("offline");
  });
  it("offers a reload once the connection ended for good", () => {
    expect(bannerText({ state: "closed", fatal: "auth refused" }, now)).toBe("Disconnected from gamif (auth refused) — reload to reconnect.");
  });
});

describe("navigation", () => {
  it("shows Admin to admins only", () => {
    expect(navItemsFor("player").map((i) => i.href)).toEqual(["/", "/leaderboards/", "/challenges/", "/profile/"]);
    expect(navItemsFor("admin").map((i) => i.href)).toContain("/admin/");
    expect(navItemsFor(null).some((i) => i.href === "/admin/")).toBe(false);
  });
  it("marks the current section", () => {
    expect(isActive("/", "/")).toBe(true);
    expect(isActive("/", "/profile/")).toBe(false);
    expect(isActive("/leaderboards/", "/leaderboards/")).toBe(true);
    expect(normalizePath("/login")).toBe("/login/");
    expect(normalizePath(null)).toBe("/");
  });
  it("only follows same-site ?next= targets", () => {
    expect(safeNext("/profile/")).toBe("/profile/");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("/\\evil")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
});

describe("avatar", () => {
  it("initials and a deterministic color", () => {
    expect(initialsOf("Ana Lopez")).toBe("AL");
    expect(initialsOf("ben")).toBe("B");
    expect(initialsOf("  ")).toBe("?");
    expect(avatarColors("u-1")).toEqual(avatarColors("u-1"));
    expect(avatarColors("u-1").from).not.toBe(avatarColors("u-2").from);
  });
});
