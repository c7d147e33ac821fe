// Admin › Announcements: pushed live to everyone's screens or one team's.
"use client";

import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Card, CardHeader } from "@/components/ui/Card";
import { Field, Input, Select, Textarea } from "@/components/ui/Field";
import { toast } from "@/stores/toasts";
import { api } from "@/lib/api";
import { useApi, useFormAction } from "@/lib/hooks";

export function AnnouncementsAdmin() {
  const teams = useApi<{ items: { slug: string; name: string; archived_at: string | null }[] }>("/teams", { limit: 200 });
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [severity, setSeverity] = useState<"info" | "warning" | "critical">("info");
  const [url, setUrl] = useState("");
  const [team, setTeam] = useState("");
  const { errors, busy, run } = useFormAction(["title", "text", "severity", "url", "team"]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    await run(async () => {
      const out = await api<{ audience: string; topics: number }>("/announcements", {
        body: { title, text, severity, ...(url ? { url } : {}), ...(team ? { team } : {}) },
      });
      toast({ title: "Announcement sent", body: `To ${out.audience === "everyone" ? "everyone" : out.audience.replace("team:", "team ")}.`, tone: "success" });
      setTitle("");
      setText("");
      setUrl("");
    });
  }

  return (
    <Card className="max-w-2xl">
      <CardHeader title="New announcement" />
      <form onSubmit={(e) => void submit(e)} noValidate className="space-y-3">
        <Field label="Title" required error={errors.title} hint={`${title.length}/200`}>
          <Input value={title} maxLength={200} onChange={(e) => setTitle(e.target.value)} />
        </Field>
        <Field label="Text" required error={errors.text}>
          <Textarea value={text} maxLength={4096} rows={4} onChange={(e) => setText(e.target.value)} />
        </Field>
        <div className="grid gap-3 sm:grid-cols-2">
          <Field label="Severity" error={errors.severity}>
            <Select value={severity} onChange={(e) => setSeverity(e.target.value as typeof severity)}>
              <option value="info">Info</option>
              <option value="warning">Warning</option>
              <option value="critical">Critical</option>
            </Select>
          </Field>
          <Field label="Audience" error={errors.team}>
            <Select value={team} onChange={(e) => setTeam(e.target.value)}>
              <option value="">Everyone</option>
              {(teams.data?.items ?? [])
                .filter((t) => !t.archived_at)
                .map((t) => (
                  <option key={t.slug} value={t.slug}>
                    Team {t.name}
                  </option>
                ))}
            </Select>
          </Field>
        </div>
        <Field label="Link (optional)" error={errors.url} hint="https://…">
          <Input type="url" value={url} onChange={(e) => setUrl(e.target.value)} />
        </Field>
        {errors._form ? <p role="alert" className="text-sm text-danger-soft">{errors._form}</p> : null}
        <Button type="submit" loading={busy}>
          Send announcement
        </Button>
      </form>
    </Card>
  );
}
