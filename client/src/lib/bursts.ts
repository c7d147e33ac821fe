// One feedback channel per moment: the awards of one burst (a metric that earns XP, a badge, its XP, a
// mission...) arrive within milliseconds of each other, and are one moment for the person. They merge into
// ONE toast ("+410 XP · 4 awards", its list on expand) instead of a toast each; a badge's XP joins the
// badge's line instead of a line of its own. Pure: the clock is a parameter.
import type { ToastInput, ToastItem } from "@/stores/toasts";
import { ruleLabel, type Moment } from "./awards";
import { formatXpDelta, plural } from "./format";

/** Awards closer than this to the previous one join its burst (a worker delivers a burst in a few ms;
 * a person reads a toast in a couple of seconds). */
export const BURST_WINDOW_MS = 2_500;
export const BURST_TTL_MS = 6_000;

export interface Burst {
  /** The toast's id: merging updates that toast in place. */
  id: string;
  items: Moment[];
  /** Total XP of the burst. */
  xp: number;
  lastAtMs: number;
}

let burstSequence = 0;

/** Whether a moment at `nowMs` still joins `burst` (its toast must still be on screen: `showing`). */
export function joins(burst: Burst | null, nowMs: number, showing: boolean, windowMs = BURST_WINDOW_MS): burst is Burst {
  return burst !== null && showing && nowMs - burst.lastAtMs <= windowMs;
}

/**
 * The burst after `moment`: a new one unless it joins `burst`. XP of a rule that already has a badge or
 * mission line joins that line; a badge or mission finding its rule's XP line takes it over.
 */
export function addToBurst(burst: Burst | null, moment: Moment, nowMs: number, showing = true): Burst {
  if (!joins(burst, nowMs, showing)) {
    return { id: `burst:${++burstSequence}`, items: [moment], xp: moment.xp, lastAtMs: nowMs };
  }
  const items = [...burst.items];
  const sameRule = (m: Moment) => moment.ruleId !== "" && m.ruleId === moment.ruleId;
  if (moment.kind === "xp") {
    const owner = items.findIndex((m) => m.kind !== "xp" && sameRule(m));
    const target = items[owner];
    if (target) items[owner] = { ...target, xp: target.xp + moment.xp };
    else items.push(moment);
  } else {
    const xpLine = items.findIndex((m) => m.kind === "xp" && sameRule(m));
    const line = items[xpLine];
    if (line) items[xpLine] = { ...moment, xp: moment.xp + line.xp };
    else items.push(moment);
  }
  return { id: burst.id, items, xp: items.reduce((sum, m) => sum + m.xp, 0), lastAtMs: nowMs };
}

function itemOf(moment: Moment): ToastItem {
  return {
    icon: moment.icon,
    text: moment.text,
    xp: moment.xp !== 0 ? formatXpDelta(moment.xp) : undefined,
    detail: [moment.explanation, moment.ruleId ? ruleLabel(moment.ruleId, moment.ruleVersion) : ""].filter(Boolean).join(" · ") || undefined,
  };
}

/**
 * The burst's toast. One award: "+25 XP" over "Merged a pull request" (a badge without XP: its words
 * as the title). Several: "+410 XP · 4 awards" over the most notable line (a badge, a mission), the list
 * on expand. The arithmetic, rule and version of each line are details of its own.
 */
export function burstToast(burst: Burst): ToastInput & { id: string } {
  const [first] = burst.items;
  const negative = burst.xp < 0;
  const base = { id: burst.id, tone: negative ? ("warning" as const) : ("xp" as const), ttlMs: BURST_TTL_MS };
  if (burst.items.length === 1 && first) {
    const item = itemOf(first);
    return {
      ...base,
      title: item.xp ? (negative ? `XP corrected: ${item.xp}` : item.xp) : first.text,
      body: item.xp ? first.text : undefined,
      icon: first.icon,
      detail: item.detail,
    };
  }
  const notable = burst.items.find((m) => m.kind !== "xp") ?? first;
  const count = plural(burst.items.length, "award");
  return {
    ...base,
    title: burst.xp !== 0 ? `${formatXpDelta(burst.xp)} · ${count}` : count,
    body: notable?.text,
    icon: notable?.icon ?? "✨",
    items: burst.items.map(itemOf),
  };
}
