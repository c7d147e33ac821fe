"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useId, useRef, useState } from "react";
import { Avatar } from "@/components/ui/Avatar";
import { cn } from "@/components/ui/cn";
import { useSession } from "@/stores/session";

/** The account button and its small popover: who I am, profile, log out. Escape and outside clicks close it. */
export function AccountMenu() {
  const account = useSession((s) => s.account);
  const logout = useSession((s) => s.logout);
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [leaving, setLeaving] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const panelId = useId();

  useEffect(() => {
    if (!open) return undefined;
    const onPointer = (e: PointerEvent) => {
      if (root.current && !root.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        setOpen(false);
        button.current?.focus();
      }
    };
    document.addEventListener("pointerdown", onPointer);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("pointerdown", onPointer);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  if (!account) return null;

  async function onLogout() {
    setLeaving(true);
    await logout();
    router.replace("/login/");
  }

  return (
    <div ref={root} className="relative">
      <button
        ref={button}
        type="button"
        aria-expanded={open}
        aria-controls={panelId}
        onClick={() => setOpen((v) => !v)}
        className="flex items-center gap-2 rounded-full p-0.5 pr-0.5 text-sm font-medium text-fg-muted hover:bg-white/8 hover:text-fg sm:pr-3"
      >
        <Avatar id={account.id} name={account.display_name} size="sm" decorative />
        <span className="hidden max-w-[10rem] truncate sm:inline 2xl:text-base">{account.display_name}</span>
        <span className="sr-only">Account menu</span>
      </button>
      <div
        id={panelId}
        hidden={!open}
        className="absolute right-0 z-50 mt-2 w-60 rounded-2xl border border-white/10 bg-ink-800/95 p-2 shadow-card backdrop-blur-xl"
      >
        <div className="px-3 py-2">
          <p className="truncate font-semibold text-fg">{account.display_name}</p>
          <p className="truncate text-sm text-fg-subtle">@{account.handle}{account.role === "admin" ? " · admin" : ""}</p>
        </div>
        <hr className="my-1 border-white/10" />
        <Link
          href="/profile/"
          onClick={() => setOpen(false)}
          className="block rounded-lg px-3 py-2 text-sm text-fg-muted hover:bg-white/8 hover:text-fg"
        >
          Your profile
        </Link>
        <button
          type="button"
          onClick={onLogout}
          disabled={leaving}
          className={cn("block w-full rounded-lg px-3 py-2 text-left text-sm text-danger-soft hover:bg-danger/15", leaving && "opacity-60")}
        >
          {leaving ? "Logging out…" : "Log out"}
        </button>
      </div>
    </div>
  );
}
