// The shared test vectors (PROTOCOL.md §20): every implementation runs the same files.
import { readFileSync } from "node:fs";
import { decode as libraryDecode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeMessage, ProtocolError, type Encoding, type Message } from "@/protocol";

interface Segment {
  hex?: string;
  text?: string;
  repeat?: number;
}
interface ValidCase {
  name: string;
  from: "client" | "server";
  message: Message;
  msgpack: string;
  json: string;
}
interface ToleratedCase {
  name: string;
  from: "client" | "server";
  encoding: Encoding;
  input: Segment[];
  message: Message;
}
interface InvalidCase {
  name: string;
  from: "client" | "server";
  encoding: Encoding;
  input: Segment[];
  code: string;
  field?: string;
}

const directory = new URL("../../../protocol/vectors/", import.meta.url);
const valid = JSON.parse(readFileSync(new URL("valid.json", directory), "utf8")) as {
  cases: ValidCase[];
  tolerated: ToleratedCase[];
};
const invalid = JSON.parse(readFileSync(new URL("invalid.json", directory), "utf8")) as { cases: InvalidCase[] };

function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A case's frame: bytes when its segments are hex, text when they are text. */
function frameOf(input: Segment[]): Uint8Array | string {
  if (input.every((segment) => segment.text !== undefined)) {
    return input.map((segment) => (segment.text as string).repeat(segment.repeat ?? 1)).join("");
  }
  if (input.some((segment) => segment.text !== undefined)) throw new Error("mixed segments");
  const parts = input.map((segment) => hexBytes((segment.hex as string).repeat(segment.repeat ?? 1)));
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The receiver of a frame sent `from` one side is the other side. */
const receiver = (from: "client" | "server") => (from === "server" ? "client" : "server");

let ran = 0;

describe("valid cases", () => {
  for (const c of valid.cases) {
    it(`${c.name}: decodes its msgpack`, () => {
      ran++;
      expect(decodeFrame(hexBytes(c.msgpack), { side: receiver(c.from), encoding: "msgpack" })).toEqual(c.message);
    });
    it(`${c.name}: decodes its json`, () => {
      ran++;
      expect(decodeFrame(c.json, { side: receiver(c.from), encoding: "json" })).toEqual(c.message);
    });
    it(`${c.name}: encodes to exactly its msgpack bytes`, () => {
      ran++;
      const bytes = encodeMessage(c.message, "msgpack");
      expect(toHex(bytes)).toBe(c.msgpack);
      // An independent reader agrees on the value.
      expect(libraryDecode(bytes)).toEqual(c.message);
    });
    it(`${c.name}: encodes to json equal by value`, () => {
      ran++;
      const text = encodeMessage(c.message, "json");
      expect(JSON.parse(text)).toEqual(JSON.parse(c.json));
    });
  }
});

describe("tolerated cases", () => {
  for (const c of valid.tolerated) {
    it(c.name, () => {
      ran++;
      expect(decodeFrame(frameOf(c.input), { side: receiver(c.from), encoding: c.encoding })).toEqual(c.message);
    });
  }
});

describe("invalid cases", () => {
  for (const c of invalid.cases) {
    it(`${c.name}: ${c.code}${c.field ? ` at ${c.field}` : ""}`, () => {
      ran++;
      let error: unknown;
      try {
        decodeFrame(frameOf(c.input), { side: receiver(c.from), encoding: c.encoding });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ProtocolError);
      const protocolError = error as ProtocolError;
      expect(protocolError.code).toBe(c.code);
      if (c.code === "invalid_message") expect(protocolError.field).toBe(c.field);
    });
  }
});

describe("coverage", () => {
  it("ran every case of the files", () => {
    // 4 tests per valid case, 1 per tolerated and per invalid case; this test runs last in the file.
    expect(valid.cases.length).toBeGreaterThan(0);
    expect(invalid.cases.length).toBeGreaterThan(0);
    expect(ran).toBe(4 * valid.cases.length + valid.tolerated.length + invalid.cases.length);
  });
});
