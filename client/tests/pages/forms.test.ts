import { describe, expect, it } from "vitest";
import { ApiError } from "@/lib/api";
import { fieldFor, isoToZonedLocal, problemMessage, problemToFields, zonedToIso } from "@/lib/forms";

function problem(errors: { field: string; message: string; code?: string }[] | null, detail = "invalid body") {
  return new ApiError(422, {
    type: "https://gamif.dev/problems/validation",
    title: "Invalid request",
    status: 422,
    detail,
    errors: errors?.map((e) => ({ code: "value_error", ...e })) ?? null,
  });
}

const FIELDS = ["id", "name", "metrics", "teams", "goal", "rewards", "ends_at", "slug"];

describe("fieldFor", () => {
  it("maps exact, nested and prefixed paths", () => {
    expect(fieldFor("slug", FIELDS)).toBe("slug");
    expect(fieldFor("body.slug", FIELDS)).toBe("slug");
    expect(fieldFor("metrics.1", FIELDS)).toBe("metrics");
    expect(fieldFor("rewards.0.badge", FIELDS)).toBe("rewards");
    expect(fieldFor("grace_seconds", FIELDS)).toBe("_form");
  });
});

describe("problemToFields", () => {
  it("puts each message on its field", () => {
    const fields = problemToFields(
      problem([
        { field: "slug", message: "String should match pattern" },
        { field: "ends_at", message: "must be after starts_at" },
      ]),
      FIELDS,
    );
    expect(fields).toEqual({ slug: "String should match pattern", ends_at: "must be after starts_at" });
  });

  it("joins several messages for one field and keeps unknown ones on the form", () => {
    const fields = problemToFields(
      problem([
        { field: "metrics.0", message: "unknown metric 'x'" },
        { field: "metrics.2", message: "unknown metric 'y'" },
        { field: "min_members", message: "too small" },
      ]),
      FIELDS,
    );
    expect(fields.metrics).toBe("unknown metric 'x'; unknown metric 'y'");
    expect(fields._form).toBe("min_members: too small");
  });

  it("falls back to the problem's detail without field errors", () => {
    const conflict = new ApiError(409, { type: "x/conflict", title: "Conflict", status: 409, detail: "the team exists" });
    expect(problemToFields(conflict, FIELDS)).toEqual({ _form: "Conflict: the team exists" });
    expect(problemToFields(new Error("boom"), FIELDS)).toEqual({ _form: "boom" });
    expect(problemMessage(problem(null, "Invalid request"))).toBe("Invalid request");
  });

  it("never says the title twice", () => {
    const doubled = new ApiError(0, { type: "x", title: "The server cannot be reached", status: 0, detail: "The server cannot be reached: check your connection." });
    expect(problemMessage(doubled)).toBe("The server cannot be reached: check your connection.");
    const unreachable = new ApiError(0, { type: "x", title: "Can't reach gamif", status: 0, detail: "check your network, or try again in a moment." });
    expect(problemMessage(unreachable)).toBe("Can't reach gamif: check your network, or try again in a moment.");
  });
});


describe("datetime-local in a timezone", () => {
  it("adds the zone's offset at that date (DST aware)", () => {
    expect(zonedToIso("2026-11-24T09:30", "Europe/Paris")).toBe("2026-11-24T09:30:00+01:00");
    expect(zonedToIso("2026-07-01T09:30", "Europe/Paris")).toBe("2026-07-01T09:30:00+02:00");
    expect(zonedToIso("2026-11-24T09:30", "UTC")).toBe("2026-11-24T09:30:00+00:00");
    expect(zonedToIso("2026-11-24T09:30", "America/New_York")).toBe("2026-11-24T09:30:00-05:00");
  });

  it("refuses empty or malformed values and unknown zones", () => {
    expect(zonedToIso("", "UTC")).toBeNull();
    expect(zonedToIso("2026-11-24", "UTC")).toBeNull();
    expect(zonedToIso("2026-11-24T09:30", "Not/AZone")).toBeNull();
  });

  it("round-trips an instant to the wall time of a zone", () => {
    expect(isoToZonedLocal("2026-11-24T08:30:00Z", "Europe/Paris")).toBe("2026-11-24T09:30");
    expect(isoToZonedLocal("2026-11-24T08:30:00Z", "UTC")).toBe("2026-11-24T08:30");
  });
});
