import Link from "next/link";
import { Card } from "@/components/ui/Card";

// The 404 in the app's own theme and frame (the hub serves this page's export, 404.html, for any path
// the client does not have), instead of Next's default white page.
export default function NotFound() {
  return (
    <section className="mx-auto flex w-full max-w-xl flex-col items-center py-10 sm:py-16" aria-labelledby="not-found-title" data-testid="not-found">
      <Card glow padding="lg" className="flex w-full flex-col items-center gap-3 text-center">
        <p aria-hidden className="text-gradient text-7xl font-black tracking-tight 2xl:text-9xl">
          404
        </p>
        <h1 id="not-found-title" className="text-2xl font-bold text-fg sm:text-3xl 2xl:text-5xl">
          This page doesn&apos;t exist
        </h1>
        <p className="max-w-sm text-fg-muted 2xl:text-xl">The link may be old or mistyped. Your progress is safe on the dashboard.</p>
        <Link
          href="/"
          className="mt-3 inline-flex min-h-11 items-center rounded-xl bg-accent-strong px-5 font-semibold text-white shadow-glow hover:bg-accent 2xl:min-h-14 2xl:px-7 2xl:text-xl"
        >
          Back to the dashboard
        </Link>
      </Card>
    </section>
  );
}
