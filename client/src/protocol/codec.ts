// Frames (PROTOCOL.md §3). `decodeFrame` reads one untrusted frame in the order of §3.3: frame type, frame
// size, then the whole structure is walked from its headers (without recursion, without allocating what a
// header announces), then the value is built (UTF-8, duplicate keys), then the envelope and fields are
// validated. `encodeMessage` writes canonical frames (§3.2): keys in code point order, integral numbers as
// the shortest integers, floats always as float 64, the shortest string/array/map headers. Both encoders
// are written here rather than taken from @msgpack/msgpack: its key sort is by UTF-16 code unit, and its
// decoder neither refuses duplicate keys nor checks UTF-8, which the contract requires.
import { ProtocolError, type ErrorCode } from "./errors";
import { limitsOf, SERVER_FRAME_LIMITS, type FrameLimits } from "./limits";
import { fromWire, senderOf, type Message, type Side } from "./messages";
import {
  compareCodePoints,
  hasKey,
  isMap,
  isWellFormed,
  MAX_SAFE_INTEGER,
  putKey,
  utf8Length,
  type Value,
  type ValueMap,
} from "./values";

export type Encoding = "msgpack" | "json";

/** The WebSocket subprotocol of each encoding; msgpack is the one to use. */
export const SUBPROTOCOLS: Readonly<Record<Encoding, string>> = {
  msgpack: "gamif.v1.msgpack",
  json: "gamif.v1.json",
};

function fail(code: ErrorCode, message: string, field?: string): never {
  throw new ProtocolError(code, message, field);
}
const bad = (message: string): never => fail("bad_frame", message);
const tooLarge = (message: string): never => fail("too_large", message);
const tooDeep = (limits: FrameLimits): never => fail("too_deep", `arrays and maps nested deeper than ${limits.maxDepth}`);

const MAX_BIG = BigInt(MAX_SAFE_INTEGER);

// ------------------------------------------------------------------------------------ msgpack: structure

/** Walks the msgpack headers without building anything: one value and nothing after it, only the data
 * model's types (no bin, ext or 0xc1), string keys, integers within ±(2^53 − 1), finite floats, and depth,
 * lengths and declared sizes within `limits` and the frame. Iterative, so a deep frame cannot exhaust the
 * stack. */
function scanMsgpack(data: Uint8Array, limits: FrameLimits): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.length;
  let pos = 0;
  const left: number[] = []; // items still to read in each open container (a map's keys and values)
  const maps: boolean[] = [];
  for (;;) {
    if (pos >= n) bad("the frame ends in the middle of a value");
    const isKey = maps.length > 0 && maps[maps.length - 1] === true && (left[left.length - 1] as number) % 2 === 0;
    const b = data[pos++] as number;
    let size = -1; // a string's length
    let count = -1; // a container's length
    let isMapHeader = false;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // fixint, nil, false, true
    } else if (b <= 0x8f) {
      count = b & 0x0f;
      isMapHeader = true;
    } else if (b <= 0x9f) {
      count = b & 0x0f;
    } else if (b <= 0xbf) {
      size = b & 0x1f;
    } else if (b === 0xca || b === 0xcb) {
      const width = b === 0xca ? 4 : 8;
      if (pos + width > n) bad("the frame ends in the middle of a float");
      const number = b === 0xca ? view.getFloat32(pos) : view.getFloat64(pos);
      pos += width;
      if (!Number.isFinite(number)) bad("numbers are finite (no NaN or infinity)");
    } else if (b >= 0xcc && b <= 0xd3) {
      // uint 8/16/32/64, int 8/16/32/64
      const signed = b >= 0xd0;
      const width = 1 << (b - (signed ? 0xd0 : 0xcc));
      if (pos + width > n) bad("the frame ends in the middle of an integer");
      if (width === 8) {
        const big = signed ? view.getBigInt64(pos) : view.getBigUint64(pos);
        if (big > MAX_BIG || big < -MAX_BIG) bad("integers are within ±(2^53 - 1)");
      }
      pos += width;
    } else if (b >= 0xd9 && b <= 0xdf) {
      // str 8/16/32, array 16/32, map 16/32
      const width = [1, 2, 4, 2, 4, 2, 4][b - 0xd9] as number;
      if (pos + width > n) bad("the frame ends in the middle of a header");
      const length = width === 1 ? view.getUint8(pos) : width === 2 ? view.getUint16(pos) : view.getUint32(pos);
      pos += width;
      if (b <= 0xdb) size = length;
      else {
        count = length;
        isMapHeader = b >= 0xde;
      }
    } else if (b === 0xc4 || b === 0xc5 || b === 0xc6) {
      bad("binary values (bin 8/16/32) are not part of the protocol");
    } else if (b === 0xc1) {
      bad("0xc1 is not a msgpack type");
    } else {
      bad("extension types (ext, fixext, timestamps) are not part of the protocol");
    }
    if (isKey && size < 0) bad("map keys are strings");
    if (size >= 0) {
      if (size > limits.maxStringBytes) tooLarge(`a string of ${size} bytes is over ${limits.maxStringBytes}`);
      if (pos + size > n) bad("the frame ends in the middle of a string");
      pos += size;
    } else if (count >= 0) {
      if (left.length + 1 > limits.maxDepth) tooDeep(limits);
      if (isMapHeader && count > limits.maxMapLength) tooLarge(`a map of ${count} entries is over ${limits.maxMapLength}`);
      if (!isMapHeader && count > limits.maxArrayLength) {
        tooLarge(`an array of ${count} items is over ${limits.maxArrayLength}`);
      }
      const items = isMapHeader ? 2 * count : count;
      if (items > 0) {
        if (pos + items > n) bad("the frame ends before the items its headers announce"); // each takes a byte
        left.push(items);
        maps.push(isMapHeader);
        continue;
      }
    }
    // a value is complete: close the containers it completes
    while (left.length > 0) {
      const remaining = (left[left.length - 1] as number) - 1;
      left[left.length - 1] = remaining;
      if (remaining > 0) break;
      left.pop();
      maps.pop();
    }
    if (left.length === 0) break;
  }
  if (pos !== n) bad("extra bytes after the message");
}

// ---------------------------------------------------------------------------------------- msgpack: build

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Builds the value of a frame `scanMsgpack` accepted (so recursion is bounded by max_depth). */
class MsgpackReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  read(): Value {
    const b = this.data[this.pos++] as number;
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b <= 0x8f) return this.map(b & 0x0f);
    if (b <= 0x9f) return this.array(b & 0x0f);
    if (b <= 0xbf) return this.string(b & 0x1f);
    const v = this.view;
    const p = this.pos;
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xca:
        this.pos += 4;
        return number(v.getFloat32(p));
      case 0xcb:
        this.pos += 8;
        return number(v.getFloat64(p));
      case 0xcc:
        this.pos += 1;
        return v.getUint8(p);
      case 0xcd:
        this.pos += 2;
        return v.getUint16(p);
      case 0xce:
        this.pos += 4;
        return v.getUint32(p);
      case 0xcf:
        this.pos += 8;
        return Number(v.getBigUint64(p));
      case 0xd0:
        this.pos += 1;
        return v.getInt8(p);
      case 0xd1:
        this.pos += 2;
        return v.getInt16(p);
      case 0xd2:
        this.pos += 4;
        return v.getInt32(p);
      case 0xd3:
        this.pos += 8;
        return Number(v.getBigInt64(p));
      case 0xd9:
        this.pos += 1;
        return this.string(v.getUint8(p));
      case 0xda:
        this.pos += 2;
        return this.string(v.getUint16(p));
      case 0xdb:
        this.pos += 4;
        return this.string(v.getUint32(p));
      case 0xdc:
        this.pos += 2;
        return this.array(v.getUint16(p));
      case 0xdd:
        this.pos += 4;
        return this.array(v.getUint32(p));
      case 0xde:
        this.pos += 2;
        return this.map(v.getUint16(p));
      case 0xdf:
        this.pos += 4;
        return this.map(v.getUint32(p));
      default:
        return bad(`unexpected byte 0x${b.toString(16)}`); // unreachable after the scan
    }
  }

  private string(size: number): string {
    const start = this.pos;
    this.pos += size;
    const bytes = this.data.subarray(start, this.pos);
    let ascii = true;
    for (let i = 0; i < bytes.length; i++) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii && size <= 64) return String.fromCharCode(...bytes);
    try {
      return utf8.decode(bytes);
    } catch {
      return bad("a string is not valid UTF-8");
    }
  }

  private array(count: number): Value[] {
    const items: Value[] = new Array<Value>(count);
    for (let i = 0; i < count; i++) items[i] = this.read();
    return items;
  }

  private map(count: number): ValueMap {
    const map: ValueMap = {};
    for (let i = 0; i < count; i++) {
      const key = this.read() as string; // the scan refused other keys
      const value = this.read();
      if (hasKey(map, key)) bad("a map has the same key twice");
      putKey(map, key, value);
    }
    return map;
  }
}

/** Numbers are numbers: an integral float reads as the integer (and −0 as 0). */
function number(value: number): number {
  return value === 0 ? 0 : value;
}

function decodeMsgpack(data: Uint8Array, limits: FrameLimits): Value {
  scanMsgpack(data, limits);
  return new MsgpackReader(data).read();
}

// ------------------------------------------------------------------------------------------------- JSON

/** Strings (skipped whole, escapes included) and brackets: enough to know the nesting depth. */
const JSON_TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"|[[\]{}]/gs;
const MAX_INT_DIGITS = String(MAX_SAFE_INTEGER).length + 1; // with a sign

function jsonDepthOk(text: string, maxDepth: number): boolean {
  let brackets = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) brackets++;
  }
  if (brackets <= maxDepth) return true;
  let depth = 0;
  for (const match of text.matchAll(JSON_TOKEN)) {
    const token = match[0];
    if (token === "[" || token === "{") {
      if (++depth > maxDepth) return false;
    } else if (token === "]" || token === "}") depth--;
  }
  return true;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

/** A strict RFC 8259 parser that also refuses duplicate keys, integers beyond ±(2^53 − 1) and numbers
 * that overflow to infinity (JSON.parse accepts all three). Its recursion is bounded: the depth was
 * checked before parsing. */
class JsonReader {
  pos = 0;
  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  private ws(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.pos++;
      else return;
    }
  }

  document(): Value {
    this.ws();
    const value = this.value(1);
    this.ws();
    if (this.pos !== this.text.length) bad("not JSON: extra data after the value");
    return value;
  }

  private value(depth: number): Value {
    const t = this.text;
    const c = t[this.pos];
    if (c === "{" || c === "[") {
      if (depth > this.maxDepth) fail("too_deep", `arrays and maps nested deeper than ${this.maxDepth}`);
      return c === "{" ? this.object(depth) : this.array(depth);
    }
    if (c === '"') return this.string();
    if (t.startsWith("true", this.pos)) return (this.pos += 4), true;
    if (t.startsWith("false", this.pos)) return (this.pos += 5), false;
    if (t.startsWith("null", this.pos)) return (this.pos += 4), null;
    return this.number();
  }

  private object(depth: number): ValueMap {
    const map: ValueMap = {};
    this.pos++;
    this.ws();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return map;
    }
    for (;;) {
      if (this.text[this.pos] !== '"') bad("not JSON: expected a string key");
      const key = this.string();
      this.ws();
      if (this.text[this.pos] !== ":") bad("not JSON: expected ':'");
      this.pos++;
      this.ws();
      const value = this.value(depth + 1);
      if (hasKey(map, key)) bad("a map has the same key twice");
      putKey(map, key, value);
      this.ws();
      const c = this.text[this.pos++];
      if (c === "}") return map;
      if (c !== ",") bad("not JSON: expected ',' or '}'");
      this.ws();
    }
  }

  private array(depth: number): Value[] {
    const items: Value[] = [];
    this.pos++;
    this.ws();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return items;
    }
    for (;;) {
      this.ws();
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.text[this.pos++];
      if (c === "]") return items;
      if (c !== ",") bad("not JSON: expected ',' or ']'");
    }
  }

  private string(): string {
    const t = this.text;
    let pos = this.pos + 1;
    let out = "";
    let start = pos;
    for (;;) {
      if (pos >= t.length) bad("not JSON: unterminated string");
      const c = t.charCodeAt(pos);
      if (c === 0x22) break;
      if (c < 0x20) bad("not JSON: a control character in a string");
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += t.slice(start, pos);
      const e = t[pos + 1];
      pos += 2;
      switch (e) {
        case '"':
        case "\\":
        case "/":
          out += e;
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = t.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) bad("not JSON: a bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          bad("not JSON: a bad escape");
      }
      start = pos;
    }
    this.pos = pos + 1;
    return out + t.slice(start, pos);
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return bad(`not JSON: unexpected ${JSON.stringify(this.text.slice(this.pos, this.pos + 8))}`);
    const text = match[0];
    this.pos += text.length;
    const value = Number(text);
    if (match[1] === undefined && match[2] === undefined) {
      if (text.length > MAX_INT_DIGITS || !Number.isSafeInteger(value)) bad("integers are within ±(2^53 - 1)");
    } else if (!Number.isFinite(value)) {
      bad("numbers are finite (no NaN or infinity)");
    }
    return number(value);
  }
}

/** Lengths and strings of a parsed JSON value (its depth was checked before parsing). */
function checkJsonValue(value: Value, limits: FrameLimits): void {
  const stack: Value[] = [value];
  while (stack.length > 0) {
    const node = stack.pop() as Value;
    if (typeof node === "string") {
      if (!isWellFormed(node)) bad("strings are valid Unicode (no lone surrogates)");
      const size = utf8Length(node);
      if (size > limits.maxStringBytes) tooLarge(`a string of ${size} bytes is over ${limits.maxStringBytes}`);
    } else if (Array.isArray(node)) {
      if (node.length > limits.maxArrayLength) tooLarge(`an array of ${node.length} items is over ${limits.maxArrayLength}`);
      stack.push(...node);
    } else if (isMap(node)) {
      const keys = Object.keys(node);
      if (keys.length > limits.maxMapLength) tooLarge(`a map of ${keys.length} entries is over ${limits.maxMapLength}`);
      for (const key of keys) stack.push(key, node[key] as Value);
    }
  }
}

function decodeJson(text: string, limits: FrameLimits): Value {
  if (!jsonDepthOk(text, limits.maxDepth)) tooDeep(limits);
  const value = new JsonReader(text, limits.maxDepth).document();
  checkJsonValue(value, limits);
  return value;
}

// ------------------------------------------------------------------------------------------------ decode

export type Frame = Uint8Array | ArrayBuffer | string;

/** The value one frame holds, checked against the data model and `limits` (not yet a message). */
export function decodeValue(frame: Frame, encoding: Encoding, limits: FrameLimits): Value {
  if (encoding === "msgpack") {
    if (typeof frame === "string") fail("wrong_frame_type", "a text frame on gamif.v1.msgpack");
    const data = frame instanceof Uint8Array ? frame : new Uint8Array(frame as ArrayBuffer);
    if (data.length > limits.maxFrameBytes) tooLarge(`the frame is ${data.length} bytes, over ${limits.maxFrameBytes}`);
    return decodeMsgpack(data, limits);
  }
  if (typeof frame !== "string") return fail("wrong_frame_type", "a binary frame on gamif.v1.json");
  if (frame.length > limits.maxFrameBytes) tooLarge(`the frame is over ${limits.maxFrameBytes} bytes`);
  if (!isWellFormed(frame)) bad("a text frame is valid UTF-8 (no lone surrogates)");
  const size = utf8Length(frame);
  if (size > limits.maxFrameBytes) tooLarge(`the frame is ${size} bytes, over ${limits.maxFrameBytes}`);
  return decodeJson(frame, limits);
}

export interface DecodeOptions {
  /** The receiver's side: a client ("client") accepts only server messages, within the server's frame
   * limits; the server ("server") only client messages, within the client limits. */
  side: Side;
  encoding?: Encoding;
  /** Overrides the frame limits that follow from `side`. */
  limits?: FrameLimits;
}

/** The message in one frame. Throws ProtocolError: `wrong_frame_type`, `too_large`, `too_deep`,
 * `bad_frame` (fatal: close the connection), or `unknown_type`, `invalid_message` (ignore the message). */
export function decodeFrame(frame: Frame, options: DecodeOptions): Message {
  const sender: Side = options.side === "client" ? "server" : "client";
  const value = decodeValue(frame, options.encoding ?? "msgpack", options.limits ?? limitsOf(sender));
  if (!isMap(value)) bad("a frame holds one map");
  return fromWire(value as ValueMap, sender);
}

// ------------------------------------------------------------------------------------------------ encode

/** `value` in canonical form, checked: maps with string keys (the writers sort them), integral numbers as integers,
 * `undefined` entries left out (an optional field without a value). ProtocolError `invalid_message` (with
 * the path) for a value outside the data model, `too_large`/`too_deep` over `limits`. */
export function canonical(value: unknown, limits: FrameLimits = SERVER_FRAME_LIMITS): Value {
  return canon(value, 0, limits, "");
}

function at(path: string, key: string | number): string {
  return path === "" ? String(key) : `${path}.${key}`;
}

function canon(value: unknown, depth: number, limits: FrameLimits, path: string): Value {
  const field = path === "" ? undefined : path;
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "string") {
    if (!isWellFormed(value)) fail("invalid_message", "strings are valid Unicode (no lone surrogates)", field);
    if (utf8Length(value) > limits.maxStringBytes) {
      fail("too_large", `a string is over ${limits.maxStringBytes} bytes`, field);
    }
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) fail("invalid_message", "numbers are finite (no NaN or infinity)", field);
    if (Number.isInteger(value) && Math.abs(value) > MAX_SAFE_INTEGER) {
      return value; // integral but beyond 2^53: written as a float (§3.2 rule 2)
    }
    return value === 0 ? 0 : value;
  }
  if (Array.isArray(value)) {
    if (depth >= limits.maxDepth) fail("too_deep", `nested deeper than ${limits.maxDepth}`, field);
    if (value.length > limits.maxArrayLength) fail("too_large", `an array has over ${limits.maxArrayLength} items`, field);
    return value.map((item: unknown, i) => canon(item, depth + 1, limits, at(path, i)));
  }
  if (isMap(value)) {
    if (depth >= limits.maxDepth) fail("too_deep", `nested deeper than ${limits.maxDepth}`, field);
    const keys = Object.keys(value).filter((key) => value[key] !== undefined);
    if (keys.length > limits.maxMapLength) fail("too_large", `a map has over ${limits.maxMapLength} entries`, field);
    const out: ValueMap = {};
    for (const key of keys) {
      if (!isWellFormed(key)) fail("invalid_message", "map keys are valid Unicode", at(path, key));
      putKey(out, key, canon(value[key], depth + 1, limits, at(path, key)));
    }
    return out;
  }
  return fail("invalid_message", `a ${typeof value} is not a protocol value`, field);
}

const utf8Encoder = new TextEncoder();

/** The canonical msgpack writer: shortest forms, floats as float 64, keys already sorted by `canonical`. */
class MsgpackWriter {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  length = 0;

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buffer[this.length++] = b;
  }

  private header(b: number, width: 1 | 2 | 4 | 8, n: number): void {
    this.reserve(1 + width);
    this.buffer[this.length++] = b;
    const v = this.view;
    const p = this.length;
    if (width === 1) v.setUint8(p, n);
    else if (width === 2) v.setUint16(p, n);
    else if (width === 4) v.setUint32(p, n);
    else v.setBigUint64(p, BigInt.asUintN(64, BigInt(n)));
    this.length += width;
  }

  write(value: Value): void {
    if (value === null) this.byte(0xc0);
    else if (value === false) this.byte(0xc2);
    else if (value === true) this.byte(0xc3);
    else if (typeof value === "number") this.number(value);
    else if (typeof value === "string") this.string(value);
    else if (Array.isArray(value)) {
      const n = value.length;
      if (n < 16) this.byte(0x90 | n);
      else if (n < 0x10000) this.header(0xdc, 2, n);
      else this.header(0xdd, 4, n);
      for (const item of value) this.write(item);
    } else {
      // Sorted here: a JS object lists integer-like keys ("9" before "10") first, whatever their order.
      const keys = Object.keys(value).sort(compareCodePoints);
      const n = keys.length;
      if (n < 16) this.byte(0x80 | n);
      else if (n < 0x10000) this.header(0xde, 2, n);
      else this.header(0xdf, 4, n);
      for (const key of keys) {
        this.string(key);
        this.write(value[key] as Value);
      }
    }
  }

  private number(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.reserve(9);
      this.buffer[this.length++] = 0xcb;
      this.view.setFloat64(this.length, n);
      this.length += 8;
    } else if (n >= 0) {
      if (n < 0x80) this.byte(n);
      else if (n < 0x100) this.header(0xcc, 1, n);
      else if (n < 0x10000) this.header(0xcd, 2, n);
      else if (n < 0x100000000) this.header(0xce, 4, n);
      else this.header(0xcf, 8, n);
    } else if (n >= -32) this.byte(n & 0xff);
    else if (n >= -0x80) this.header(0xd0, 1, n & 0xff);
    else if (n >= -0x8000) this.header(0xd1, 2, n & 0xffff);
    else if (n >= -0x80000000) this.header(0xd2, 4, n >>> 0);
    else this.header(0xd3, 8, n);
  }

  private string(text: string): void {
    const bytes = utf8Encoder.encode(text);
    const n = bytes.length;
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) this.header(0xd9, 1, n);
    else if (n < 0x10000) this.header(0xda, 2, n);
    else this.header(0xdb, 4, n);
    this.reserve(n);
    this.buffer.set(bytes, this.length);
    this.length += n;
  }

  bytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

function jsonText(value: Value): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jsonText).join(",")}]`;
  // Keys are sorted here: JS objects list integer-like keys ("9", "10") first, whatever their order.
  return `{${Object.keys(value)
    .sort(compareCodePoints)
    .map((key) => `${JSON.stringify(key)}:${jsonText(value[key] as Value)}`)
    .join(",")}}`;
}

/** One canonical frame holding `value` (a map), within `limits`: bytes for msgpack, text for JSON. */
export function encodeValue(value: unknown, encoding: "msgpack", limits?: FrameLimits): Uint8Array;
export function encodeValue(value: unknown, encoding: "json", limits?: FrameLimits): string;
export function encodeValue(value: unknown, encoding: Encoding, limits?: FrameLimits): Uint8Array | string;
export function encodeValue(value: unknown, encoding: Encoding, limits: FrameLimits = SERVER_FRAME_LIMITS): Uint8Array | string {
  const canon = canonical(value, limits);
  let frame: Uint8Array | string;
  let size: number;
  if (encoding === "msgpack") {
    const writer = new MsgpackWriter();
    writer.write(canon);
    frame = writer.bytes();
    size = frame.length;
  } else {
    frame = jsonText(canon);
    size = utf8Length(frame);
  }
  if (size > limits.maxFrameBytes) tooLarge(`the frame is ${size} bytes, over ${limits.maxFrameBytes}`);
  return frame;
}

/** The canonical frame of `message`, validated first (ProtocolError `invalid_message` with the field) and
 * held to the limits its receiver applies (client messages to the client limits). */
export function encodeMessage(message: Message, encoding: "msgpack"): Uint8Array;
export function encodeMessage(message: Message, encoding: "json"): string;
export function encodeMessage(message: Message, encoding: Encoding): Uint8Array | string;
export function encodeMessage(message: Message, encoding: Encoding): Uint8Array | string {
  const sender = senderOf(message.type);
  const wire = canonical(message, limitsOf(sender ?? "server"));
  if (!isMap(wire)) return fail("invalid_message", "a message is a map");
  // Validation returns only the fields the type defines, so nothing unknown goes out.
  return encodeValue(fromWire(wire, sender ?? undefined), encoding, limitsOf(sender ?? "server"));
}
