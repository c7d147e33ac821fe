"use client";

import { motion } from "motion/react";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Card } from "@/components/ui/Card";
import { Field, Input } from "@/components/ui/Field";
import { ApiError } from "@/lib/api";
import { useSession } from "@/stores/session";

/** Only same-site paths: never redirect to another origin from a query parameter. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.includes("\\")) return "/";
  return next;
}

const PERKS = [
  { icon: "✨", text: "Every contribution turns into XP, explained line by line" },
  { icon: "🏅", text: "Badges, streaks and missions that update the second they happen" },
  { icon: "🏆", text: "Live leaderboards and team challenges" },
];

export function LoginScreen() {
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  const login = useSession((s) => s.login);
  const account = useSession((s) => s.account);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ login?: string; password?: string }>({});
  const [demo, setDemo] = useState(false);
  const loginInput = useRef<HTMLInputElement>(null);

  // Already signed in (another tab, or back button): go on.
  useEffect(() => {
    if (account && !busy) router.replace(next);
  }, [account, busy, next, router]);

  // The demo hint: served by a local hub (the demo), after mount so the prerender matches.
  useEffect(() => {
    const host = window.location.hostname;
    setDemo(host === "localhost" || host === "127.0.0.1" || host === "[::1]");
  }, []);

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const name = String(form.get("login") ?? "").trim();
    const password = String(form.get("password") ?? "");
    const missing = { login: name ? undefined : "Enter your login", password: password ? undefined : "Enter your password" };
    setFieldErrors(missing);
    setError(null);
    if (missing.login || missing.password) return;
    setBusy(true);
    try {
      await login(name, password);
      router.replace(next);
    } catch (err) {
      if (err instanceof ApiError) {
        setFieldErrors({ login: err.fieldError("login"), password: err.fieldError("password") });
        setError(err.problem.detail ?? err.problem.title);
      } else {
        setError("Something went wrong. Please try again.");
      }
      setBusy(false);
      loginInput.current?.focus();
    }
  }

  return (
    <div className="relative flex min-h-dvh items-center justify-center overflow-hidden px-4 py-10">
      <div aria-hidden className="pointer-events-none absolute -top-40 -left-40 size-[32rem] rounded-full bg-accent/25 blur-3xl" />
      <div aria-hidden className="pointer-events-none absolute -right-40 -bottom-40 size-[30rem] rounded-full bg-accent-2/20 blur-3xl" />
      <div className="relative grid w-full max-w-5xl items-center gap-10 md:grid-cols-2 2xl:max-w-7xl">
        <motion.div initial={{ opacity: 0, y: 12 }} animate={{ opacity: 1, y: 0 }} transition={{ duration: 0.5 }} className="min-w-0">
          <p className="mb-4 inline-flex items-center gap-2 text-sm font-semibold text-accent-soft 2xl:text-lg">
            <span aria-hidden className="inline-flex size-8 items-center justify-center rounded-xl bg-accent-gradient text-white shadow-glow">
              ⚡
            </span>
            gamif
          </p>
          <h1 className="text-4xl font-black tracking-tight text-balance sm:text-5xl 2xl:text-7xl">
            Level up <span className="text-gradient">your work</span>, live.
          </h1>
          <ul className="mt-6 space-y-3 text-fg-muted 2xl:text-xl">
            {PERKS.map((perk) => (
              <li key={perk.text} className="flex items-start gap-3">
                <span aria-hidden className="text-xl">
                  {perk.icon}
                </span>
                <span>{perk.text}</span>
              </li>
            ))}
          </ul>
        </motion.div>

        <motion.div
          initial={{ opacity: 0, y: 16, scale: 0.98 }}
          animate={{ opacity: 1, y: 0, scale: 1 }}
          transition={{ type: "spring", stiffness: 200, damping: 22, delay: 0.05 }}
          className="min-w-0"
        >
          <Card glow padding="lg" aria-labelledby="login-title">
            <h2 id="login-title" className="text-2xl font-bold 2xl:text-3xl">
              Sign in
            </h2>
            <p className="mt-1 mb-6 text-sm text-fg-muted 2xl:text-base">Welcome back. Your streak is waiting.</p>
            <form onSubmit={onSubmit} noValidate className="flex flex-col gap-4" aria-describedby={error ? "login-error" : undefined}>
              <Field label="Login" error={fieldErrors.login}>
                <Input ref={loginInput} name="login" autoComplete="username" autoCapitalize="none" spellCheck={false} required autoFocus placeholder="handle or email" />
              </Field>
              <Field label="Password" error={fieldErrors.password}>
                <Input name="password" type="password" autoComplete="current-password" required />
              </Field>
              {error ? (
                <p id="login-error" role="alert" className="rounded-xl border border-danger/40 bg-danger/10 px-3 py-2 text-sm text-danger-soft">
                  {error}
                </p>
              ) : null}
              <Button type="submit" size="lg" block loading={busy}>
                {busy ? "Signing in…" : "Sign in"}
              </Button>
            </form>
            {demo ? (
              <p className="mt-5 rounded-xl border border-white/10 bg-white/5 px-3 py-2 text-xs text-fg-muted 2xl:text-sm">
                <span className="font-semibold text-fg">Demo:</span> log in as <code className="text-accent-soft">ana</code>,{" "}
                <code className="text-accent-soft">bo</code>, <code className="text-accent-soft">chen</code>… (or <code className="text-accent-soft">admin</code>) with password <code className="text-accent-soft">gamif-demo-password</code>.
              </p>
            ) : null}
          </Card>
        </motion.div>
      </div>
    </div>
  );
}
