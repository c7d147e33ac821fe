"use client";

import { MotionConfig } from "motion/react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useSyncExternalStore, type ReactNode } from "react";
import { LevelUpOverlay } from "@/components/dashboard/LevelUpOverlay";
import { cn } from "@/components/ui/cn";
import { Spinner } from "@/components/ui/Spinner";
import { Toaster } from "@/components/ui/Toaster";
import "@/lib/motion"; // reduced motion: animations off
import { useSession } from "@/stores/session";
import { AccountMenu } from "./AccountMenu";
import { AwardsListener } from "./AwardsListener";
import { ConnectionBanner, ConnectionIndicator } from "./ConnectionIndicator";
import { isActive, navItemsFor, normalizePath } from "./nav";

const PUBLIC_PATHS = new Set(["/login/"]);

/** True once the persisted session was read from localStorage (false on the server and the first render). */
function useSessionHydrated(): boolean {
  return useSyncExternalStore(
    (notify) => useSession.persist.onFinishHydration(notify),
    () => useSession.persist.hasHydrated(),
    () => false,
  );
}

/** Every page's frame: top bar, nav, connection indicator, auth guard, toasts, the level-up celebration. */
export function AppShell({ children }: { children: ReactNode }) {
  const pathname = normalizePath(usePathname());
  const router = useRouter();
  const hydrated = useSessionHydrated();
  const account = useSession((s) => s.account);
  const isPublic = PUBLIC_PATHS.has(pathname);
  const mustLogIn = hydrated && !account && !isPublic;

  useEffect(() => {
    if (!mustLogIn) return;
    const next = pathname === "/" ? "" : `?next=${encodeURIComponent(pathname)}`;
    router.replace(`/login/${next}`);
  }, [mustLogIn, pathname, router]);

  const ready = hydrated && (isPublic || Boolean(account));

  return (
    <MotionConfig reducedMotion="user">
      <a
        href="#main"
        className="sr-only z-[100] rounded-lg bg-accent px-4 py-2 font-semibold text-white focus:not-sr-only focus:fixed focus:top-2 focus:left-2"
      >
        Skip to content
      </a>
      {isPublic ? (
        <main id="main" className="min-h-dvh">
          {children}
        </main>
      ) : (
        <>
          <TopBar pathname={pathname} signedIn={hydrated && Boolean(account)} role={hydrated ? (account?.role ?? null) : null} />
          <main id="main" tabIndex={-1} className="mx-auto w-full max-w-7xl px-3 pt-4 pb-24 outline-none sm:px-6 sm:pt-6 md:pb-10 2xl:max-w-[110rem] 2xl:px-10">
            {ready ? (
              children
            ) : (
              <div className="flex min-h-[50dvh] items-center justify-center">
                <Spinner size="lg" label={mustLogIn ? "Redirecting to the login page" : "Loading"} />
              </div>
            )}
          </main>
          <BottomNav pathname={pathname} role={hydrated ? (account?.role ?? null) : null} />
          {hydrated && account ? <AwardsListener userId={account.id} /> : null}
          <LevelUpOverlay />
        </>
      )}
      <Toaster />
    </MotionConfig>
  );
}

function Brand() {
  return (
    <Link href="/" className="group flex shrink-0 items-center gap-2 rounded-lg font-black tracking-tight" aria-label="gamif home">
      <span
        aria-hidden
        className="inline-flex size-8 items-center justify-center rounded-xl bg-accent-gradient text-lg text-white shadow-glow transition-transform group-hover:rotate-6 motion-reduce:transition-none 2xl:size-11 2xl:text-2xl"
      >
        ⚡
      </span>
      <span className="text-gradient text-xl 2xl:text-3xl">gamif</span>
    </Link>
  );
}

function TopBar({ pathname, signedIn, role }: { pathname: string; signedIn: boolean; role: string | null }) {
  const items = navItemsFor(role);
  return (
    <header className="sticky top-0 z-40 border-b border-white/8 bg-ink-950/70 backdrop-blur-xl">
      <div className="mx-auto flex h-14 w-full max-w-7xl items-center gap-3 px-3 sm:px-6 2xl:h-20 2xl:max-w-[110rem] 2xl:px-10">
        <Brand />
        <nav aria-label="Main" className="ml-4 hidden md:block">
          <ul className="flex items-center gap-1">
            {items.map((item) => {
              const active = isActive(item.href, pathname);
              return (
                <li key={item.href}>
                  <Link
                    href={item.href}
                    aria-current={active ? "page" : undefined}
                    className={cn(
                      "relative rounded-lg px-3 py-2 text-sm font-medium transition-colors 2xl:text-lg",
                      active ? "bg-white/10 text-fg" : "text-fg-muted hover:bg-white/6 hover:text-fg",
                    )}
                  >
                    {item.label}
                    {active ? <span aria-hidden className="absolute inset-x-3 -bottom-[9px] h-0.5 rounded-full bg-accent-gradient 2xl:-bottom-[17px]" /> : null}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="ml-auto flex min-w-0 items-center gap-2 sm:gap-3">
          {signedIn ? <ConnectionIndicator /> : null}
          <AccountMenu />
        </div>
      </div>
      {signedIn ? <ConnectionBanner /> : null}
    </header>
  );
}

function BottomNav({ pathname, role }: { pathname: string; role: string | null }) {
  const items = navItemsFor(role);
  return (
    <nav
      aria-label="Main (mobile)"
      className="fixed inset-x-0 bottom-0 z-40 border-t border-white/10 bg-ink-950/85 pb-[env(safe-area-inset-bottom)] backdrop-blur-xl md:hidden"
    >
      <ul className="flex items-stretch justify-around">
        {items.map((item) => {
          const active = isActive(item.href, pathname);
          return (
            <li key={item.href} className="min-w-0 flex-1">
              <Link
                href={item.href}
                aria-current={active ? "page" : undefined}
                className={cn(
                  "flex flex-col items-center gap-0.5 px-1 py-2 text-[11px] font-medium",
                  active ? "text-fg" : "text-fg-subtle hover:text-fg",
                )}
              >
                <span aria-hidden className={cn("text-lg leading-none transition-transform", active && "scale-110")}>
                  {item.icon}
                </span>
                <span className="max-w-full truncate">{item.label}</span>
              </Link>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
