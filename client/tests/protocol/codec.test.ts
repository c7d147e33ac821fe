// Codec behaviour beyond the shared vectors: the encoder's canonical choices and the decoder's refusals.
import { describe, expect, it } from "vitest";
import { canonical, decodeFrame, decodeValue, encodeMessage, encodeValue, ProtocolError } from "@/protocol";
import { CLIENT_FRAME_LIMITS, SERVER_FRAME_LIMITS } from "@/protocol/limits";
import { compareCodePoints } from "@/protocol/values";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const code = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as ProtocolError).code;
  }
  return null;
};

describe("canonical encoding", () => {
  it("sorts keys by code point, not by UTF-16 unit, and integer-like keys too", () => {
    expect(["😀", "｡", "a"].sort(compareCodePoints)).toEqual(["a", "｡", "😀"]);
    expect(["😀", "｡"].sort()).toEqual(["😀", "｡"]); // what JS's default sort would do
    expect(encodeValue({ "9": 1, "10": 2 }, "json")).toBe('{"10":2,"9":1}');
    expect(hex(encodeValue({ "9": 1, "10": 2 }, "msgpack"))).toBe("82a23130" + "02" + "a139" + "01");
    expect(canonical({ b: 1.0, a: { c: undefined } })).toEqual({ a: {}, b: 1 });
  });

  it("writes integral numbers as the shortest ints and other numbers as float 64", () => {
    expect(hex(encodeValue({ a: 3.0 }, "msgpack"))).toBe("81a16103");
    expect(hex(encodeValue({ a: -0 }, "msgpack"))).toBe("81a16100");
    expect(hex(encodeValue({ a: 0.5 }, "msgpack"))).toBe("81a161cb3fe0000000000000");
    expect(hex(encodeValue({ a: 2 ** 53 }, "msgpack"))).toBe("81a161cb4340000000000000"); // beyond 2^53 − 1
  });

  it("leaves out undefined optional fields and refuses values outside the data model", () => {
    expect(encodeMessage({ type: "subscribe", topic: "team:platform", id: undefined }, "json")).toBe(
      '{"topic":"team:platform","type":"subscribe"}',
    );
    expect(code(() => encodeValue({ a: NaN }, "msgpack"))).toBe("invalid_message");
    expect(code(() => encodeValue({ a: "\ud800" }, "msgpack"))).toBe("invalid_message");
    expect(code(() => encodeMessage({ type: "auth", token: "" }, "msgpack"))).toBe("invalid_message");
    expect(code(() => encodeMessage({ type: "auth", token: "x".repeat(5000) }, "msgpack"))).toBe("too_large");
  });
});

describe("decoding", () => {
  it("keeps __proto__ as a plain key, in msgpack and JSON", () => {
    const viaJson = decodeValue('{"__proto__":{"x":1}}', "json", SERVER_FRAME_LIMITS) as Record<string, unknown>;
    expect(Object.getPrototypeOf(viaJson)).toBe(Object.prototype);
    expect(Object.keys(viaJson)).toEqual(["__proto__"]);
    const bytes = encodeValue(viaJson, "msgpack");
    const viaMsgpack = decodeValue(bytes, "msgpack", SERVER_FRAME_LIMITS) as Record<string, unknown>;
    expect(Object.keys(viaMsgpack)).toEqual(["__proto__"]);
  });

  it("refuses a 100 MB header without allocating, before anything else", () => {
    const frame = new Uint8Array([0x81, 0xa1, 0x61, 0xdb, 0x05, 0xf5, 0xe1, 0x00]);
    expect(code(() => decodeValue(frame, "msgpack", CLIENT_FRAME_LIMITS))).toBe("too_large");
  });

  it("refuses very deep frames as too_deep, without recursing into them", () => {
    const depth = 200_000;
    const frame = new Uint8Array(depth + 1).fill(0x91);
    frame[depth] = 0xc0;
    expect(code(() => decodeValue(frame, "msgpack", SERVER_FRAME_LIMITS))).toBe("too_deep");
    expect(code(() => decodeValue(`{"x":${"[".repeat(depth)}${"]".repeat(depth)}}`, "json", SERVER_FRAME_LIMITS))).toBe("too_deep");
    const ok = new Uint8Array(33).fill(0x91); // depth 32: the limit itself is fine
    ok[32] = 0xc0;
    expect(code(() => decodeValue(ok, "msgpack", SERVER_FRAME_LIMITS))).toBeNull();
  });

  it("keeps a leading BOM in a string", () => {
    const value = decodeValue(new Uint8Array([0x81, 0xa1, 0x61, 0xa3, 0xef, 0xbb, 0xbf]), "msgpack", SERVER_FRAME_LIMITS);
    expect(value).toEqual({ a: "\ufeff" });
  });

  it("reports the id of an invalid message so that its request can be failed", () => {
    try {
      decodeFrame('{"type":"pong","id":7}', { side: "client", encoding: "json" });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: "invalid_message", field: "server_time_ms", messageId: 7 });
    }
  });
});
