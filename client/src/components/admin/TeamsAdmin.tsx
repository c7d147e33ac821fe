// Admin › Teams: list, create (inline field errors), rename, archive (confirmed), members by handle.
"use client";

import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Card, CardHeader } from "@/components/ui/Card";
import { Field, Input } from "@/components/ui/Field";
import { Pill } from "@/components/ui/Pill";
import { toast } from "@/stores/toasts";
import { EmptyState, ErrorState, SkeletonRows } from "@/components/leaderboard/common";
import { api } from "@/lib/api";
import { problemMessage, problemToFields } from "@/lib/forms";
import { useApi, useFormAction } from "@/lib/hooks";

interface TeamOut {
  slug: string;
  name: string;
  description: string;
  archived_at: string | null;
  members: number;
}

interface TeamDetail extends TeamOut {
  member_list: { handle: string; display_name: string; joined_at: string }[];
}

export function TeamsAdmin() {
  const teams = useApi<{ items: TeamOut[]; next_cursor: string | null }>("/teams", { include_archived: true, limit: 200 });
  return (
    <div className="grid gap-5 lg:grid-cols-[1fr_2fr]">
      <CreateTeam onCreated={teams.reload} />
      <Card>
        <CardHeader title="Teams" />
        {teams.error && !teams.data ? (
          <ErrorState error={teams.error} onRetry={teams.reload} />
        ) : !teams.data ? (
          <SkeletonRows count={3} />
        ) : teams.data.items.length === 0 ? (
          <EmptyState title="No teams yet">Create the first one.</EmptyState>
        ) : (
          <ul className="space-y-3">
            {teams.data.items.map((t) => (
              <TeamRow key={t.slug} team={t} onChanged={teams.reload} />
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}

function CreateTeam({ onCreated }: { onCreated(): void }) {
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const { errors, busy, run } = useFormAction(["slug", "name", "description"]);
  async function submit(event: FormEvent) {
    event.preventDefault();
    await run(async () => {
      await api("/teams", { body: { slug, name, description } });
      toast({ title: `Team ${name} created`, tone: "success" });
      setSlug("");
      setName("");
      setDescription("");
      onCreated();
    });
  }
  return (
    <Card as="section">
      <CardHeader title="New team" />
      <form onSubmit={(e) => void submit(e)} className="space-y-3" noValidate>
        <Field label="Slug" required error={errors.slug} hint="Lower-case letters, digits and dashes: platform, web-team">
          <Input value={slug} onChange={(e) => setSlug(e.target.value)} autoComplete="off" spellCheck={false} />
        </Field>
        <Field label="Name" required error={errors.name}>
          <Input value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Description" error={errors.description}>
          <Input value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        {errors._form ? <p role="alert" className="text-sm text-danger-soft">{errors._form}</p> : null}
        <Button type="submit" loading={busy}>
          Create team
        </Button>
      </form>
    </Card>
  );
}

function TeamRow({ team, onChanged }: { team: TeamOut; onChanged(): void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(team.name);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const archived = team.archived_at !== null;

  async function run(label: string, action: () => Promise<unknown>, success: string) {
    setBusy(label);
    setError(null);
    try {
      await action();
      toast({ title: success, tone: "success" });
      onChanged();
      return true;
    } catch (e) {
      setError(problemToFields(e, ["name"]).name ?? problemMessage(e));
      return false;
    } finally {
      setBusy(null);
    }
  }

  return (
    <li data-testid="admin-team" data-team={team.slug} className="rounded-xl border border-white/8 bg-white/[0.03] p-3">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="min-w-0">
          <p className="font-semibold text-fg">
            {team.name} <span className="font-mono text-xs text-fg-subtle">{team.slug}</span>
          </p>
          <p className="text-xs text-fg-muted">
            {team.members} member{team.members === 1 ? "" : "s"} {archived ? <Pill tone="warning">archived</Pill> : null}
          </p>
        </div>
        <Button variant="ghost" size="sm" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          {open ? "Close" : "Manage"}
        </Button>
      </div>
      {open ? (
        <div className="mt-3 space-y-4 border-t border-white/8 pt-3">
          <form
            className="flex flex-wrap items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              void run("rename", () => api(`/teams/${team.slug}`, { method: "PATCH", body: { name } }), `Renamed to ${name}`);
            }}
          >
            <Field label="Name" className="min-w-0 flex-1">
              <Input value={name} onChange={(e) => setName(e.target.value)} />
            </Field>
            <Button type="submit" variant="secondary" loading={busy === "rename"} disabled={name === team.name}>
              Rename
            </Button>
          </form>
          {!archived ? <Members slug={team.slug} onChanged={onChanged} /> : null}
          {error ? <p role="alert" className="text-sm text-danger-soft">{error}</p> : null}
          {!archived ? (
            confirming ? (
              <div role="alertdialog" aria-label={`Archive ${team.name}?`} className="flex flex-wrap items-center gap-2 rounded-lg border border-danger/40 bg-danger/10 p-2">
                <span className="text-sm text-fg">Archive {team.name}? It takes no new members; its history stays.</span>
                <Button
                  variant="danger"
                  size="sm"
                  loading={busy === "archive"}
                  onClick={() => void run("archive", () => api(`/teams/${team.slug}/archive`, { method: "POST" }), `${team.name} archived`).then(() => setConfirming(false))}
                >
                  Yes, archive
                </Button>
                <Button variant="ghost" size="sm" onClick={() => setConfirming(false)}>
                  Cancel
                </Button>
              </div>
            ) : (
              <Button variant="ghost" size="sm" className="text-danger-soft" onClick={() => setConfirming(true)}>
                Archive…
              </Button>
            )
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

function Members({ slug, onChanged }: { slug: string; onChanged(): void }) {
  const detail = useApi<TeamDetail>(`/teams/${slug}`);
  const [handle, setHandle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function change(method: "PUT" | "DELETE", who: string) {
    setBusy(`${method}:${who}`);
    setError(null);
    try {
      await api(`/teams/${slug}/members/${encodeURIComponent(who)}`, { method });
      toast({ title: method === "PUT" ? `@${who} added to ${slug}` : `@${who} removed from ${slug}`, tone: "success" });
      if (method === "PUT") setHandle("");
      detail.reload();
      onChanged();
    } catch (e) {
      setError(problemToFields(e, ["handle"]).handle ?? problemMessage(e));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="space-y-2">
      <p className="text-sm font-medium text-fg">Members</p>
      {detail.data ? (
        detail.data.member_list.length === 0 ? (
          <p className="text-sm text-fg-muted">No members.</p>
        ) : (
          <ul className="flex flex-wrap gap-2">
            {detail.data.member_list.map((m) => (
              <li key={m.handle} className="inline-flex items-center gap-1 rounded-full border border-white/10 bg-white/5 py-0.5 pl-3 pr-1 text-sm">
                {m.display_name} <span className="text-fg-subtle">@{m.handle}</span>
                <button
                  type="button"
                  aria-label={`Remove @${m.handle}`}
                  disabled={busy !== null}
                  onClick={() => void change("DELETE", m.handle)}
                  className="ml-1 rounded-full px-1.5 text-fg-muted hover:bg-danger/20 hover:text-danger-soft focus-visible:outline-2 focus-visible:outline-accent-2"
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )
      ) : detail.error ? (
        <p className="text-sm text-danger-soft">{problemMessage(detail.error)}</p>
      ) : (
        <SkeletonRows count={1} className="h-8" />
      )}
      <form
        className="flex flex-wrap items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          if (handle.trim()) void change("PUT", handle.trim());
        }}
      >
        <Field label="Add by handle" error={error} className="min-w-0 flex-1">
          <Input value={handle} onChange={(e) => setHandle(e.target.value)} autoComplete="off" spellCheck={false} placeholder="ana" />
        </Field>
        <Button type="submit" variant="secondary" loading={busy?.startsWith("PUT") ?? false}>
          Add
        </Button>
      </form>
    </div>
  );
}
