import { describe, expect, it } from "vitest";
import { createToastStore, type ToastTimers } from "@/stores/toasts";

/** A manual clock: timers fire only when `advance` passes them. */
function fakeTimers() {
  let now = 1_000;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: ToastTimers = {
    setTimeout(fn, ms) {
      const id = ++seq;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
    now: () => now,
  };
  function advance(ms: number) {
    const target = now + ms;
    for (;;) {
      const due = [...pending.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = target;
  }
  return { timers, advance, pending };
}

describe("toast store", () => {
  it("pushes with defaults and returns the id", () => {
    const { timers } = fakeTimers();
    const store = createToastStore({ timers });
    const id = store.getState().push({ title: "+12 XP" });
    const [t] = store.getState().toasts;
    expect(t?.id).toBe(id);
    expect(t?.tone).toBe("info");
    expect(t?.ttlMs).toBe(6000);
  });

  it("expires after its ttl", () => {
    const { timers, advance } = fakeTimers();
    const store = createToastStore({ timers });
    store.getState().push({ title: "a", ttlMs: 3000 });
    advance(2999);
    expect(store.getState().toasts).toHaveLength(1);
    advance(1);
    expect(store.getState().toasts).toHaveLength(0);
  });

  it("keeps a toast with ttl Infinity until dismissed", () => {
    const { timers, advance, pending } = fakeTimers();
    const store = createToastStore({ timers });
    const id = store.getState().push({ title: "critical", ttlMs: Infinity });
    advance(10 * 60_000);
    expect(store.getState().toasts).toHaveLength(1);
    expect(pending.size).toBe(0);
    store.getState().dismiss(id);
    expect(store.getState().toasts).toHaveLength(0);
  });

  it("pauses the countdown and resumes with the time left", () => {
    const { timers, advance } = fakeTimers();
    const store = createToastStore({ timers });
    const id = store.getState().push({ title: "a", ttlMs: 5000 });
    advance(3000);
    store.getState().pause(id);
    expect(store.getState().toasts[0]?.paused).toBe(true);
    expect(store.getState().toasts[0]?.remainingMs).toBe(2000);
    advance(60_000); // hovered for a minute: still there
    expect(store.getState().toasts).toHaveLength(1);
    store.getState().resume(id);
    advance(1999);
    expect(store.getState().toasts).toHaveLength(1);
    advance(1);
    expect(store.getState().toasts).toHaveLength(0);
  });

  it("gives at least 1.5 s after resuming an almost expired toast", () => {
    const { timers, advance } = fakeTimers();
    const store = createToastStore({ timers });
    const id = store.getState().push({ title: "a", ttlMs: 1000 });
    advance(900);
    store.getState().pause(id);
    store.getState().resume(id);
    advance(1000);
    expect(store.getState().toasts).toHaveLength(1);
    advance(500);
    expect(store.getState().toasts).toHaveLength(0);
  });

  it("dismiss cancels the timer", () => {
    const { timers, pending } = fakeTimers();
    const store = createToastStore({ timers });
    const id = store.getState().push({ title: "a" });
    expect(pending.size).toBe(1);
    store.getState().dismiss(id);
    expect(pending.size).toBe(0);
    expect(store.getState().toasts).toHaveLength(0);
  });

  it("updates in place when pushed again with the same id", () => {
    const { timers, advance } = fakeTimers();
    const store = createToastStore({ timers });
    store.getState().push({ id: "x", title: "first", ttlMs: 1000 });
    advance(800);
    store.getState().push({ id: "x", title: "second", ttlMs: 1000 });
    expect(store.getState().toasts.map((t) => t.title)).toEqual(["second"]);
    advance(800); // the first timer was replaced
    expect(store.getState().toasts).toHaveLength(1);
    advance(200);
    expect(store.getState().toasts).toHaveLength(0);
  });

  it("keeps at most `max`, dropping the oldest", () => {
    const { timers, pending } = fakeTimers();
    const store = createToastStore({ timers, max: 3 });
    for (const title of ["1", "2", "3", "4", "5"]) store.getState().push({ title });
    expect(store.getState().toasts.map((t) => t.title)).toEqual(["3", "4", "5"]);
    expect(pending.size).toBe(3);
  });

  it("keeps two by default: one feedback channel per moment", () => {
    const { timers } = fakeTimers();
    const store = createToastStore({ timers });
    for (const title of ["1", "2", "3"]) store.getState().push({ title });
    expect(store.getState().toasts.map((t) => t.title)).toEqual(["2", "3"]);
  });

  it("updates a merged toast in place, its lines with it", () => {
    const { timers } = fakeTimers();
    const store = createToastStore({ timers });
    store.getState().push({ id: "burst:1", title: "+25 XP", body: "Merged a pull request" });
    store.getState().push({ title: "Heads up" });
    store.getState().push({ id: "burst:1", title: "+35 XP · 2 awards", items: [{ text: "Merged a pull request", xp: "+25 XP" }, { text: "Did a code review", xp: "+10 XP" }] });
    expect(store.getState().toasts.map((t) => t.title)).toEqual(["+35 XP · 2 awards", "Heads up"]);
    expect(store.getState().toasts[0]?.items).toHaveLength(2);
  });
});
