// Admin › Rules: the YAML editor, validation (problems with line numbers, or the summary), publishing
// only after the current text validated, and the version history.
"use client";

import { useEffect, useRef, useState } from "react";
import { Button } from "@/components/ui/Button";
import { Card, CardHeader } from "@/components/ui/Card";
import { toast } from "@/stores/toasts";
import { ErrorState, SkeletonRows } from "@/components/leaderboard/common";
import { api } from "@/lib/api";
import { problemMessage } from "@/lib/forms";
import { useApi } from "@/lib/hooks";

interface RulesOut {
  version: number;
  ruleset: string;
  yaml: string;
  summary: Record<string, unknown>;
}

interface Validation {
  valid: boolean;
  version?: number | null;
  summary?: Record<string, unknown> | null;
  problems: { path: string; line: number | null; message: string }[];
}

function summaryText(summary: Record<string, unknown>): string[] {
  return Object.entries(summary)
    .filter(([, value]) => Array.isArray(value) || typeof value !== "object") // lists and numbers, not lookups
    .map(([key, value]) => `${key}: ${Array.isArray(value) ? `${value.length} (${value.join(", ")})` : String(value)}`);
}

export function RulesAdmin() {
  const current = useApi<RulesOut>("/rules");
  const versions = useApi<{ versions: { version: number; ruleset: string; created_at: string; created_by: string | null; fingerprint: string }[] }>("/rules/versions");
  const [text, setText] = useState<string | null>(null);
  const [validated, setValidated] = useState<{ text: string; result: Validation } | null>(null);
  const [busy, setBusy] = useState<"validate" | "publish" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (current.data && text === null) setText(current.data.yaml);
  }, [current.data, text]);

  const yaml = text ?? "";
  const validForText = validated !== null && validated.text === yaml && validated.result.valid;

  async function validate() {
    setBusy("validate");
    setError(null);
    try {
      const result = await api<Validation>("/rules/validate", { body: { yaml } });
      setValidated({ text: yaml, result });
    } catch (e) {
      setError(problemMessage(e));
    } finally {
      setBusy(null);
    }
  }

  async function publish() {
    setBusy("publish");
    setError(null);
    try {
      const out = await api<RulesOut>("/rules", { method: "PUT", body: { yaml } });
      toast({ title: `Rules v${out.version} published`, body: "Scoring uses them from now on.", tone: "success" });
      setValidated(null);
      current.reload();
      versions.reload();
    } catch (e) {
      setError(problemMessage(e));
    } finally {
      setBusy(null);
    }
  }

  function goToLine(line: number) {
    const el = area.current;
    if (!el) return;
    const lines = yaml.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }

  if (current.error && !current.data) return <ErrorState error={current.error} onRetry={current.reload} title="Could not load the rules" />;
  if (!current.data || text === null) return <SkeletonRows count={3} className="h-40" label="Loading the rules" />;

  const result = validated && validated.text === yaml ? validated.result : null;
  const lineCount = yaml.split("\n").length;

  return (
    <div className="grid gap-5 xl:grid-cols-[3fr_1fr]">
      <Card>
        <CardHeader title={`Rule set ${current.data.ruleset} · v${current.data.version} live`} />
        <label htmlFor="rules-yaml" className="sr-only">
          Rules YAML
        </label>
        <textarea
          id="rules-yaml"
          ref={area}
          value={yaml}
          onChange={(e) => setText(e.target.value)}
          spellCheck={false}
          wrap="off"
          aria-describedby="rules-status"
          className="h-[28rem] w-full resize-y overflow-auto rounded-xl border border-white/12 bg-ink-950/80 p-3 font-mono text-sm leading-5 text-fg focus-visible:outline-2 focus-visible:outline-accent-2 2xl:h-[40rem] 2xl:text-base 2xl:leading-6"
        />
        <div className="mt-3 flex flex-wrap items-center gap-2">
          <Button variant="secondary" loading={busy === "validate"} onClick={() => void validate()}>
            Validate
          </Button>
          <Button loading={busy === "publish"} disabled={!validForText} onClick={() => void publish()}>
            Publish
          </Button>
          <Button variant="ghost" onClick={() => { setText(current.data?.yaml ?? ""); setValidated(null); }} disabled={yaml === current.data.yaml}>
            Revert
          </Button>
          <span className="text-xs text-fg-subtle">{lineCount} lines</span>
        </div>
        <div id="rules-status" aria-live="polite" className="mt-3 space-y-2">
          {error ? <p role="alert" className="text-sm text-danger-soft">{error}</p> : null}
          {!result ? (
            <p className="text-sm text-fg-muted">{validated ? "Edited since the last validation — validate again to publish." : "Validate to enable publishing."}</p>
          ) : result.valid ? (
            <div className="rounded-xl border border-success/40 bg-success/10 p-3 text-sm" data-testid="rules-valid">
              <p className="font-semibold text-success-soft">Valid{result.version ? ` — will publish as v${result.version}` : ""}.</p>
              <ul className="mt-1 space-y-0.5 text-fg-muted">
                {summaryText(result.summary ?? {}).map((line) => (
                  <li key={line} className="break-words">{line}</li>
                ))}
              </ul>
            </div>
          ) : (
            <div className="rounded-xl border border-danger/40 bg-danger/10 p-3 text-sm" data-testid="rules-problems">
              <p className="font-semibold text-danger-soft">
                {result.problems.length} problem{result.problems.length === 1 ? "" : "s"}
              </p>
              <ul className="mt-1 space-y-1">
                {result.problems.map((p, i) => (
                  <li key={i} className="text-fg">
                    {p.line !== null ? (
                      <button type="button" onClick={() => goToLine(p.line ?? 1)} className="mr-2 rounded bg-danger/25 px-1.5 font-mono text-xs text-danger-soft hover:bg-danger/40 focus-visible:outline-2 focus-visible:outline-accent-2">
                        line {p.line}
                      </button>
                    ) : null}
                    {p.path ? <code className="mr-1 text-fg-muted">{p.path}</code> : null}
                    {p.message}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>
      </Card>
      <Card>
        <CardHeader title="Versions" />
        {versions.data ? (
          <ol className="space-y-2">
            {versions.data.versions.map((v) => (
              <li key={v.version} className="rounded-lg border border-white/8 bg-white/[0.03] px-3 py-2 text-sm">
                <span className="font-semibold text-fg">v{v.version}</span> <span className="text-fg-muted">{v.ruleset}</span>
                <span className="block text-xs text-fg-subtle">
                  {new Date(v.created_at).toLocaleString("en-GB")} {v.created_by ? `· ${v.created_by}` : ""}
                </span>
              </li>
            ))}
          </ol>
        ) : versions.error ? (
          <ErrorState error={versions.error} onRetry={versions.reload} />
        ) : (
          <SkeletonRows count={2} className="h-12" />
        )}
      </Card>
    </div>
  );
}
