import { describe, expect, it } from "vitest";
import { applyOps, checkOps, OpError, OpFormatError, parseOp, type Document, type Op } from "@/protocol/ops";

const board = (): Document => ({
  ranked: 3,
  rows: [
    { member: "ana", score: 640, rank: 1 },
    { member: "ben", score: 560, rank: 2 },
    { member: "chloe", score: 560, rank: 2 },
  ],
});

const ops = (...raw: unknown[]): Op[] => raw.map(parseOp);

describe("applyOps", () => {
  it("sets, merges and removes map keys", () => {
    const doc: Document = { xp: 1, missions: { m: { progress: 2, completed: false } }, people: { a: 1, b: 2 } };
    const out = applyOps(
      doc,
      ops(["set", ["xp"], 3], ["merge", ["missions", "m"], { progress: 3, completed: true }], ["remove", ["people", "b"]]),
    );
    expect(out).toEqual({ xp: 3, missions: { m: { progress: 3, completed: true } }, people: { a: 1 } });
  });

  it("never modifies its input, and shares what it did not write", () => {
    const doc: Document = { a: { x: 1 }, b: { y: 2 } };
    const snapshot = structuredClone(doc);
    const out = applyOps(doc, ops(["set", ["a", "x"], 5]));
    expect(doc).toEqual(snapshot);
    expect(out.b).toBe(doc.b);
    expect(out.a).not.toBe(doc.a);
  });

  it("merge creates a missing map, and a missing row with its key", () => {
    const out = applyOps(board(), ops(["merge", ["streak"], { current: 1 }], ["merge", ["rows", { member: "dan" }], { score: 1 }]));
    expect(out.streak).toEqual({ current: 1 });
    expect(() => applyOps(board(), ops(["merge", ["streaks", "r"], { current: 1 }]))).toThrow(/no such map/);
    expect((out.rows as Document[]).at(-1)).toEqual({ member: "dan", score: 1 });
  });

  it("moves a row, the others keeping their order (the leaderboard example of §11.7)", () => {
    const out = applyOps(
      board(),
      ops(
        ["merge", ["rows", { member: "chloe" }], { score: 660, rank: 1 }],
        ["merge", ["rows", { member: "ana" }], { rank: 2 }],
        ["merge", ["rows", { member: "ben" }], { rank: 3 }],
        ["move", ["rows"], { member: "chloe" }, 0],
      ),
    );
    expect((out.rows as Document[]).map((row) => [row.member, row.rank])).toEqual([
      ["chloe", 1],
      ["ana", 2],
      ["ben", 3],
    ]);
  });

  it("removes a row and inserts one at a position", () => {
    const out = applyOps(
      board(),
      ops(
        ["remove", ["rows", { member: "ben" }]],
        ["set", ["rows", { member: "dan" }], { member: "dan", score: 600, rank: 2 }],
        ["move", ["rows"], { member: "dan" }, 1],
        ["set", ["ranked"], 4],
      ),
    );
    expect((out.rows as Document[]).map((row) => row.member)).toEqual(["ana", "dan", "chloe"]);
    expect(out.ranked).toBe(4);
  });

  it("is idempotent: applying a delta twice gives the same document as once", () => {
    const deltas = [
      ops(["set", ["xp"], 10], ["merge", ["m"], { a: 1 }]),
      ops(["remove", ["rows", { member: "ben" }]], ["set", ["rows", { member: "dan" }], { member: "dan", score: 1 }], ["move", ["rows"], { member: "dan" }, 0]),
      ops(["merge", ["rows", { member: "chloe" }], { score: 999 }], ["move", ["rows"], { member: "chloe" }, 0]),
      ops(["set", [], { fresh: true }]),
    ];
    for (const delta of deltas) {
      const once = applyOps(board(), delta);
      expect(applyOps(once, delta)).toEqual(once);
    }
  });

  it("selectors match by value and type: 1 does not select \"1\"", () => {
    const doc: Document = { items: [{ id: 1, v: "int" }, { id: "1", v: "str" }] };
    const out = applyOps(doc, ops(["merge", ["items", { id: "1" }], { v: "changed" }]));
    expect(out.items).toEqual([{ id: 1, v: "int" }, { id: "1", v: "changed" }]);
  });

  it("does not apply (OpError, input untouched) on a missing parent, a wrong container, an ambiguous selector", () => {
    const doc: Document = { rows: [{ member: "a" }, { member: "a" }], xp: 3 };
    const cases: Op[][] = [
      ops(["set", ["missing", "x"], 1]),
      ops(["set", ["xp", "x"], 1]),
      ops(["merge", ["rows", { member: "a" }], { x: 1 }]),
      ops(["set", ["rows", "key"], 1]),
      ops(["move", ["rows"], { member: "zz" }, 0]),
      ops(["merge", ["xp"], { a: 1 }]),
    ];
    for (const delta of cases) expect(() => applyOps(doc, delta)).toThrow(OpError);
    expect(doc).toEqual({ rows: [{ member: "a" }, { member: "a" }], xp: 3 });
  });

  it("refuses a set of a row without its key, and a merge that changes the key", () => {
    expect(() => applyOps(board(), ops(["set", ["rows", { member: "ana" }], { member: "bob" }]))).toThrow(OpError);
    expect(() => applyOps(board(), ops(["merge", ["rows", { member: "ana" }], { member: "bob" }]))).toThrow(OpError);
  });

  it("refuses a move that no longer holds once the delta is done", () => {
    const delta = ops(["move", ["rows"], { member: "chloe" }, 0], ["move", ["rows"], { member: "ben" }, 0]);
    expect(() => applyOps(board(), delta)).toThrow(/no longer at index 0/);
  });

  it("remove of something already gone does nothing", () => {
    const doc = board();
    expect(applyOps(doc, ops(["remove", ["nope", "x"]], ["remove", ["rows", { member: "zed" }]]))).toEqual(doc);
  });

  it("keeps __proto__ as a plain key", () => {
    const out = applyOps({}, ops(["merge", [], JSON.parse('{"__proto__": {"polluted": 1}}') as Document]));
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("checkOps: the rules of the whole delta", () => {
  const refused = (...raw: unknown[]) => {
    try {
      checkOps(ops(...raw));
    } catch (error) {
      expect(error).toBeInstanceOf(OpFormatError);
      return (error as OpFormatError).field;
    }
    return null;
  };

  it("allows outside-in: a map, then its keys", () => {
    expect(refused(["set", ["m"], {}], ["set", ["m", "k"], 1])).toBeNull();
  });

  it("refuses inside-out, the same location twice, and recreating a removed row", () => {
    expect(refused(["set", ["m", "k"], 1], ["set", ["m"], {}])).toBe("1");
    expect(refused(["set", ["x"], 1], ["set", ["x"], 2])).toBe("1");
    expect(refused(["remove", ["rows", { member: "a" }]], ["set", ["rows", { member: "a" }], { member: "a" }])).toBe("1");
  });

  it("refuses a merge of a row after a move of its list", () => {
    expect(refused(["move", ["rows"], { member: "a" }, 0], ["merge", ["rows", { member: "a" }], { x: 1 }])).toBe("1");
  });

  it("refuses two key fields for one list", () => {
    expect(refused(["merge", ["rows", { member: "a" }], { x: 1 }], ["merge", ["rows", { id: 1 }], { x: 1 }])).toBe("1");
  });
});

describe("parseOp", () => {
  const field = (raw: unknown) => {
    try {
      parseOp(raw);
      return null;
    } catch (error) {
      return (error as OpFormatError).field;
    }
  };

  it("names the offending position", () => {
    expect(field(["increment", ["xp"], 1])).toBe("0");
    expect(field(["set", ["xp"]])).toBe("");
    expect(field(["set", "xp", 1])).toBe("1");
    expect(field(["set", ["rows", 0], 1])).toBe("1.1");
    expect(field(["remove", ["rows", { member: true }]])).toBe("1.1.member");
    expect(field(["move", ["rows"], { member: "a" }, -1])).toBe("3");
    expect(field(["set", [], 1])).toBe("2");
    expect(field(["remove", []])).toBe("1");
    expect(field(["set", ["xp"], 1])).toBeNull();
  });
});
