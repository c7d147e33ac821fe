// Admin › Challenges: list, create (errors inline by field), and edit of an existing challenge.
"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Card, CardHeader } from "@/components/ui/Card";
import { Field, Input, Select, Textarea } from "@/components/ui/Field";
import { Pill } from "@/components/ui/Pill";
import { toast } from "@/stores/toasts";
import { STATE_TONE, type ChallengeOut } from "@/components/challenge/ChallengeList";
import { EmptyState, ErrorState, SkeletonRows } from "@/components/leaderboard/common";
import { metricLabel } from "@/components/leaderboard/LeaderboardsView";
import { api } from "@/lib/api";
import { STATE_LABEL } from "@/lib/challenge";
import { isoToZonedLocal, zonedToIso, type FieldErrors } from "@/lib/forms";
import { useApi, useFormAction } from "@/lib/hooks";
import { formatDateTime } from "@/lib/time";
import type { ChallengeDoc } from "@/protocol";

const FIELDS = ["id", "name", "description", "mode", "scoring", "metrics", "teams", "starts_at", "ends_at", "timezone", "goal", "rewards", "completion_reward", "version"];

interface RewardRow {
  rank: string;
  xp: string;
  badge: string;
}

interface FormState {
  id: string;
  name: string;
  description: string;
  mode: ChallengeDoc["mode"];
  scoring: ChallengeDoc["scoring"];
  metrics: string[];
  teams: string[];
  startsAt: string;
  endsAt: string;
  timezone: string;
  goal: string;
  rewards: RewardRow[];
}

const EMPTY: FormState = {
  id: "",
  name: "",
  description: "",
  mode: "highest",
  scoring: "sum",
  metrics: [],
  teams: [],
  startsAt: "",
  endsAt: "",
  timezone: "UTC",
  goal: "",
  rewards: [{ rank: "1", xp: "200", badge: "" }],
};

function fromChallenge(c: ChallengeOut): FormState {
  const d = c.definition;
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    mode: d.mode,
    scoring: d.scoring,
    metrics: [...d.metrics],
    teams: [...(d.teams ?? [])],
    startsAt: isoToZonedLocal(d.starts_at, d.timezone),
    endsAt: isoToZonedLocal(d.ends_at, d.timezone),
    timezone: d.timezone,
    goal: d.goal === null ? "" : String(d.goal),
    rewards: d.rewards.map((r) => ({ rank: String(r.rank), xp: String(r.xp), badge: r.badge ?? "" })),
  };
}

function body(form: FormState, errors: FieldErrors): Record<string, unknown> | null {
  const starts = zonedToIso(form.startsAt, form.timezone);
  const ends = zonedToIso(form.endsAt, form.timezone);
  if (!form.startsAt) errors.starts_at = "Pick a start";
  else if (!starts) errors.starts_at = "Not a valid date in this timezone";
  if (!form.endsAt) errors.ends_at = "Pick an end";
  else if (!ends) errors.ends_at = "Not a valid date in this timezone";
  if (Object.keys(errors).length > 0) return null;
  return {
    id: form.id,
    name: form.name,
    description: form.description,
    mode: form.mode,
    scoring: form.scoring,
    metrics: form.metrics,
    teams: form.teams.length > 0 ? form.teams : null,
    starts_at: starts,
    ends_at: ends,
    timezone: form.timezone,
    goal: form.mode === "highest" || form.goal === "" ? null : Number(form.goal),
    rewards:
      form.mode === "cooperative"
        ? []
        : form.rewards
            .filter((r) => r.rank !== "")
            .map((r) => ({ rank: Number(r.rank), xp: Number(r.xp || 0), ...(r.badge ? { badge: r.badge } : {}) })),
  };
}

export function ChallengesAdmin() {
  const list = useApi<{ items: ChallengeOut[] }>("/challenges", { limit: 100 });
  const [editing, setEditing] = useState<ChallengeOut | null>(null);
  return (
    <div className="grid gap-5 xl:grid-cols-[3fr_2fr]">
      <ChallengeForm key={editing ? `edit:${editing.definition.id}:${editing.version}` : "new"} editing={editing} onDone={() => { setEditing(null); list.reload(); }} onCancel={() => setEditing(null)} />
      <Card>
        <CardHeader title="Challenges" />
        {list.error && !list.data ? (
          <ErrorState error={list.error} onRetry={list.reload} />
        ) : !list.data ? (
          <SkeletonRows count={3} />
        ) : list.data.items.length === 0 ? (
          <EmptyState title="No challenges yet" />
        ) : (
          <ul className="space-y-2">
            {list.data.items.map((c) => (
              <li key={c.definition.id} className="flex flex-wrap items-center justify-between gap-2 rounded-xl border border-white/8 bg-white/[0.03] p-3">
                <div className="min-w-0">
                  <Link className="font-semibold text-fg hover:underline" href={`/challenges/?id=${encodeURIComponent(c.definition.id)}`}>
                    {c.definition.name}
                  </Link>
                  <p className="text-xs text-fg-muted">
                    {formatDateTime(Date.parse(c.definition.starts_at), c.definition.timezone)} → {formatDateTime(Date.parse(c.definition.ends_at), c.definition.timezone)}
                  </p>
                </div>
                <div className="flex items-center gap-2">
                  <Pill tone={STATE_TONE[c.state]}>{STATE_LABEL[c.state]}</Pill>
                  {c.state !== "finished" ? (
                    <Button size="sm" variant="ghost" onClick={() => setEditing(c)}>
                      Edit
                    </Button>
                  ) : null}
                </div>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}

function Checks({ label, options, value, onChange, error, hint }: { label: string; options: { key: string; label: string }[]; value: string[]; onChange(v: string[]): void; error?: string; hint?: string }) {
  return (
    <fieldset className="space-y-1.5" aria-invalid={error ? true : undefined}>
      <legend className="text-sm font-medium text-fg">{label}</legend>
      {hint ? <p className="text-xs text-fg-subtle">{hint}</p> : null}
      <div className="flex flex-wrap gap-2">
        {options.map((o) => {
          const checked = value.includes(o.key);
          return (
            <label key={o.key} className={`inline-flex cursor-pointer items-center gap-2 rounded-full border px-3 py-1 text-sm has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-accent-2 ${checked ? "border-accent-2/70 bg-accent-2/15 text-accent-2-soft" : "border-white/15 text-fg-muted"}`}>
              <input type="checkbox" className="accent-[#22d3ee]" checked={checked} onChange={() => onChange(checked ? value.filter((v) => v !== o.key) : [...value, o.key])} />
              {o.label}
            </label>
          );
        })}
      </div>
      {error ? <p className="text-sm text-danger-soft"><span aria-hidden>⚠ </span>{error}</p> : null}
    </fieldset>
  );
}

function ChallengeForm({ editing, onDone, onCancel }: { editing: ChallengeOut | null; onDone(): void; onCancel(): void }) {
  const rules = useApi<{ summary: { metrics?: string[]; metric_names?: Record<string, string>; badges?: string[] } }>("/rules");
  const teams = useApi<{ items: { slug: string; name: string; archived_at: string | null }[] }>("/teams", { limit: 200 });
  const [form, setForm] = useState<FormState>(() => (editing ? fromChallenge(editing) : EMPTY));
  const { errors, setErrors, busy, run } = useFormAction(FIELDS);
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setForm((f) => ({ ...f, [key]: value }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local: FieldErrors = {};
    const payload = body(form, local);
    setErrors(local);
    if (!payload) return;
    await run(async () => {
      if (editing) {
        const original = body(fromChallenge(editing), {}) ?? {};
        const changes: Record<string, unknown> = { version: editing.version };
        for (const [key, value] of Object.entries(payload)) {
          if (JSON.stringify(value) !== JSON.stringify(original[key])) changes[key] = value;
        }
        await api(`/challenges/${encodeURIComponent(editing.definition.id)}`, { method: "PATCH", body: changes });
        toast({ title: `${form.name} updated`, tone: "success" });
      } else {
        await api("/challenges", { body: payload });
        toast({ title: `${form.name} created`, tone: "success" });
        setForm(EMPTY);
      }
      onDone();
    });
  }

  const metricOptions = (rules.data?.summary.metrics ?? []).map((m) => ({ key: m, label: metricLabel(m, rules.data?.summary.metric_names) }));
  const teamOptions = (teams.data?.items ?? []).filter((t) => !t.archived_at).map((t) => ({ key: t.slug, label: t.name }));

  return (
    <Card>
      <CardHeader title={editing ? `Edit ${editing.definition.name}` : "New challenge"} aside={editing ? <Button size="sm" variant="ghost" onClick={onCancel}>Cancel</Button> : null} />
      <form onSubmit={(e) => void submit(e)} noValidate className="grid gap-3 sm:grid-cols-2">
        <Field label="Id" required error={errors.id} hint="A slug: november-reviews">
          <Input value={form.id} onChange={(e) => set("id", e.target.value)} disabled={editing !== null} spellCheck={false} autoComplete="off" />
        </Field>
        <Field label="Name" required error={errors.name}>
          <Input value={form.name} onChange={(e) => set("name", e.target.value)} />
        </Field>
        <Field label="Description" error={errors.description} className="sm:col-span-2">
          <Textarea value={form.description} onChange={(e) => set("description", e.target.value)} rows={2} />
        </Field>
        <Field label="Mode" error={errors.mode}>
          <Select value={form.mode} onChange={(e) => set("mode", e.target.value as FormState["mode"])}>
            <option value="highest">Highest score wins</option>
            <option value="first_to_goal">First to the goal</option>
            <option value="cooperative">Cooperative (everyone together)</option>
          </Select>
        </Field>
        <Field label="Scoring" error={errors.scoring}>
          <Select value={form.scoring} onChange={(e) => set("scoring", e.target.value as FormState["scoring"])}>
            <option value="sum">Sum of the metrics</option>
            <option value="average_per_member">Average per member</option>
            <option value="points">Points (XP the rules award)</option>
          </Select>
        </Field>
        <div className="sm:col-span-2">
          <Checks label="Metrics" options={metricOptions} value={form.metrics} onChange={(v) => set("metrics", v)} error={errors.metrics} />
        </div>
        <div className="sm:col-span-2">
          <Checks label="Teams" hint="None selected: every team" options={teamOptions} value={form.teams} onChange={(v) => set("teams", v)} error={errors.teams} />
        </div>
        <Field label="Starts" required error={errors.starts_at}>
          <Input type="datetime-local" value={form.startsAt} onChange={(e) => set("startsAt", e.target.value)} />
        </Field>
        <Field label="Ends" required error={errors.ends_at}>
          <Input type="datetime-local" value={form.endsAt} onChange={(e) => set("endsAt", e.target.value)} />
        </Field>
        <Field label="Timezone" error={errors.timezone} hint="IANA name: Europe/Paris, UTC">
          <Input value={form.timezone} onChange={(e) => set("timezone", e.target.value)} spellCheck={false} />
        </Field>
        {form.mode !== "highest" ? (
          <Field label="Goal" required error={errors.goal}>
            <Input type="number" min={0} value={form.goal} onChange={(e) => set("goal", e.target.value)} />
          </Field>
        ) : (
          <div />
        )}
        {form.mode !== "cooperative" ? (
          <fieldset className="space-y-2 sm:col-span-2">
            <legend className="text-sm font-medium text-fg">Rewards by rank</legend>
            {form.rewards.map((r, i) => (
              <div key={i} className="flex flex-wrap items-end gap-2">
                <Field label={`Rank`} className="w-20">
                  <Input type="number" min={1} value={r.rank} onChange={(e) => set("rewards", form.rewards.map((x, j) => (j === i ? { ...x, rank: e.target.value } : x)))} />
                </Field>
                <Field label="XP" className="w-28">
                  <Input type="number" min={0} value={r.xp} onChange={(e) => set("rewards", form.rewards.map((x, j) => (j === i ? { ...x, xp: e.target.value } : x)))} />
                </Field>
                <Field label="Badge (optional)" className="min-w-0 flex-1">
                  <Input value={r.badge} list="admin-badges" onChange={(e) => set("rewards", form.rewards.map((x, j) => (j === i ? { ...x, badge: e.target.value } : x)))} />
                </Field>
                <Button variant="ghost" size="sm" aria-label={`Remove reward ${i + 1}`} onClick={() => set("rewards", form.rewards.filter((_, j) => j !== i))}>
                  ×
                </Button>
              </div>
            ))}
            <datalist id="admin-badges">
              {(rules.data?.summary.badges ?? []).map((b) => (
                <option key={b} value={b} />
              ))}
            </datalist>
            <Button variant="secondary" size="sm" onClick={() => set("rewards", [...form.rewards, { rank: String(form.rewards.length + 1), xp: "", badge: "" }])}>
              Add a reward
            </Button>
            {errors.rewards ? <p className="text-sm text-danger-soft">⚠ {errors.rewards}</p> : null}
          </fieldset>
        ) : null}
        {errors._form || errors.version || errors.completion_reward ? (
          <p role="alert" className="text-sm text-danger-soft sm:col-span-2">
            {[errors._form, errors.version, errors.completion_reward].filter(Boolean).join(" · ")}
          </p>
        ) : null}
        <div className="sm:col-span-2">
          <Button type="submit" loading={busy}>
            {editing ? "Save changes" : "Create challenge"}
          </Button>
        </div>
      </form>
    </Card>
  );
}
