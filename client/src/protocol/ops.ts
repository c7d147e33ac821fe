// Delta operations on a topic's document (PROTOCOL.md §11). Ops stay in their wire form (arrays), typed:
//
//   ["set", path, value]             path := value (a keyed row: replaced, or appended if missing)
//   ["merge", path, {k: v, ...}]     shallow merge into the map at path (created if missing)
//   ["remove", path]                 delete path; nothing to do if it is already gone
//   ["move", path, selector, index]  move the row `selector` of the list at path to `index`
//
// A path segment is a map key (string) or a selector {field: value} naming the one row of a list of maps
// whose field equals value (a string or an integer, same type). Lists are never addressed by position:
// "remove item 0" applied twice would remove two rows. Every op assigns (there is no increment), and the
// two rules of `checkOps` make a whole delta idempotent. `applyOps` never modifies its inputs: it copies
// the containers on the paths it writes and shares the rest.
import { hasKey, isMap, isSafeInteger, putKey, type Value, type ValueMap } from "./values";

/** `{field: value}`: exactly one entry, a string or integer value. */
export type Selector = Readonly<Record<string, string | number>>;
export type PathSegment = string | Selector;
export type Path = readonly PathSegment[];

export type SetOp = readonly ["set", Path, Value];
export type MergeOp = readonly ["merge", Path, ValueMap];
export type RemoveOp = readonly ["remove", Path];
export type MoveOp = readonly ["move", Path, Selector, number];
export type Op = SetOp | MergeOp | RemoveOp | MoveOp;

export type Document = ValueMap;

export const OP_NAMES = ["set", "merge", "remove", "move"] as const;
const ARITY: Readonly<Record<string, number>> = { set: 3, merge: 3, remove: 2, move: 4 };

/** An op that is not well formed. `field` is the position in the op ("1.2": the path's third segment),
 * "" for the op itself; in `checkOps`, the op's index. */
export class OpFormatError extends Error {
  override readonly name = "OpFormatError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A delta that does not apply to this document (missing parent, wrong container type, ambiguous selector,
 * a row changing its key, a move that does not hold). Nothing changed; a mirror that meets this has
 * diverged and needs a fresh snapshot. */
export class OpError extends Error {
  override readonly name = "OpError";
  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(index === undefined ? message : `op ${index}: ${message}`);
  }
}

function isKeyValue(value: unknown): value is string | number {
  return typeof value === "string" || isSafeInteger(value);
}

/** The selector's one field and value (callers pass validated selectors). */
export function selectorEntry(selector: Selector): [string, string | number] {
  for (const key in selector) {
    if (hasKey(selector, key)) return [key, selector[key] as string | number];
  }
  throw new OpFormatError("", "a selector is a map with exactly one entry");
}

function matches(selector: Selector, item: unknown): boolean {
  const [field, value] = selectorEntry(selector);
  if (!isMap(item) || !hasKey(item, field)) return false;
  const found = item[field];
  return typeof found === typeof value && found === value;
}

function show(path: Path): string {
  return (
    "/" +
    path
      .map((s) => {
        if (typeof s === "string") return s;
        const [field, value] = selectorEntry(s);
        return `{${field}=${JSON.stringify(value)}}`;
      })
      .join("/")
  );
}

// -------------------------------------------------------------------------------------------- wire form

function parseSelector(raw: unknown, field: string): Selector {
  if (!isMap(raw)) {
    throw new OpFormatError(field, "a path segment is a map key (string) or a selector (map); lists are not indexed");
  }
  const keys = Object.keys(raw);
  if (keys.length !== 1) throw new OpFormatError(field, "a selector is a map with exactly one entry");
  const key = keys[0] as string;
  if (!isKeyValue(raw[key])) {
    throw new OpFormatError(`${field}.${key}`, "a selector's value must be a string or an integer");
  }
  return raw as Selector;
}

function parsePath(raw: unknown): Path {
  if (!Array.isArray(raw)) throw new OpFormatError("1", "the path must be an array");
  return raw.map((segment: unknown, i) => (typeof segment === "string" ? segment : parseSelector(segment, `1.${i}`)));
}

/** An op from its wire form (`["set", ["xp"], 120]`); OpFormatError if it is not well formed. */
export function parseOp(raw: unknown): Op {
  if (!Array.isArray(raw) || raw.length === 0) throw new OpFormatError("", "an op is a non-empty array");
  const name: unknown = raw[0];
  if (typeof name !== "string" || !hasKey(ARITY, name)) {
    throw new OpFormatError("0", `unknown op (expected one of ${OP_NAMES.join(", ")})`);
  }
  const arity = ARITY[name] as number;
  if (raw.length !== arity) throw new OpFormatError("", `${name} takes ${arity - 1} arguments`);
  const path = parsePath(raw[1]);
  const arg: unknown = raw[2];
  switch (name) {
    case "set":
      if (path.length === 0 && !isMap(arg)) throw new OpFormatError("2", "set: the document (path []) must be a map");
      return ["set", path, arg as Value];
    case "merge":
      if (!isMap(arg)) throw new OpFormatError("2", "merge: the values must be a map");
      return ["merge", path, arg];
    case "remove":
      if (path.length === 0) throw new OpFormatError("1", "remove: the path must not be empty");
      return ["remove", path];
    default: {
      const row = parseSelector(arg, "2");
      if (path.length === 0) throw new OpFormatError("1", "move: the path must not be empty (the document is a map)");
      const index: unknown = raw[3];
      if (!isSafeInteger(index) || index < 0) throw new OpFormatError("3", "move: the index must be a non-negative integer");
      return ["move", path, row, index];
    }
  }
}

// ------------------------------------------------------------------------------------------- discipline

function segmentKey(segment: PathSegment): string {
  if (typeof segment === "string") return JSON.stringify(segment);
  const [field, value] = selectorEntry(segment);
  // The value's type is part of the key: {"m": 1} and {"m": "1"} name different rows.
  return JSON.stringify([field, value]);
}

/** Keys of every prefix of a path, [] first. */
function prefixKeys(path: Path): string[] {
  const keys = ["/"];
  let key = "/";
  for (const segment of path) {
    key += segmentKey(segment) + "/";
    keys.push(key);
  }
  return keys;
}

function pathKey(path: Path): string {
  return prefixKeys(path).at(-1) as string;
}

/** The locations an op assigns: a merge its map (which it may create) and the map's keys; a move none. */
function writes(op: Op): Path[] {
  if (op[0] === "set" || op[0] === "remove") return [op[1]];
  if (op[0] === "merge") return [op[1], ...Object.keys(op[2]).map((key) => [...op[1], key])];
  return [];
}

/** The two rules that make any delta idempotent, checked without the document (§11.3). OpFormatError with
 * the op's index as `field`:
 * 1. outside-in: no op assigns a location an earlier op touched (its path and every prefix, and what it
 *    assigned): set a map then its keys is fine; set a key then its map, or one location twice, is not;
 * 2. one key per list: all selectors into the same list use the same field. */
export function checkOps(ops: readonly Op[]): void {
  const touched = new Set<string>();
  const fields = new Map<string, string>();
  ops.forEach((op, index) => {
    const path: Path = op[0] === "move" ? [...op[1], op[2]] : op[1];
    const prefixes = prefixKeys(path);
    path.forEach((segment, depth) => {
      if (typeof segment === "string") return;
      const [field] = selectorEntry(segment);
      const list = prefixes[depth] as string;
      const known = fields.get(list);
      if (known === undefined) fields.set(list, field);
      else if (known !== field) {
        throw new OpFormatError(
          String(index),
          `rows of ${show(path.slice(0, depth))} are selected by "${known}" earlier in the delta, not "${field}"`,
        );
      }
    });
    const assigned = writes(op).map(pathKey);
    for (let i = 0; i < assigned.length; i++) {
      if (touched.has(assigned[i] as string)) {
        throw new OpFormatError(
          String(index),
          `${show(writes(op)[i] as Path)} was touched by an earlier op of the delta: write outside-in, each location once`,
        );
      }
    }
    for (const key of prefixes) touched.add(key);
    for (const key of assigned) touched.add(key);
  });
}

// --------------------------------------------------------------------------------------------- applying

type Container = Value[] | ValueMap;

/** Where `segment` is in `node` (a key or an index), or null if it is missing. */
function locate(node: unknown, segment: PathSegment, path: Path): string | number | null {
  if (typeof segment === "string") {
    if (!isMap(node)) throw new OpError(`${show(path)}: a map key on a ${kind(node)}`);
    return hasKey(node, segment) ? segment : null;
  }
  if (!Array.isArray(node)) throw new OpError(`${show(path)}: a selector on a ${kind(node)}`);
  let found: number | null = null;
  for (let i = 0; i < node.length; i++) {
    if (!matches(segment, node[i])) continue;
    if (found !== null) throw new OpError(`${show(path)}: the selector matches more than one row`);
    found = i;
  }
  return found;
}

function kind(node: unknown): string {
  return isMap(node) ? "map" : Array.isArray(node) ? "list" : "scalar";
}

function child(node: Container, where: string | number): Value {
  return (Array.isArray(node) ? node[where as number] : node[where as string]) as Value;
}

function put(node: Container, where: string | number, value: Value): void {
  if (Array.isArray(node)) node[where as number] = value;
  else putKey(node, where as string, value);
}

/** Copy-on-write over the input: a container is copied the first time it is written, then owned. */
class Writer {
  private readonly owned = new Set<object>();
  root: ValueMap;

  constructor(document: ValueMap) {
    this.root = document;
  }

  private own<T extends Container>(node: T): T {
    if (this.owned.has(node)) return node;
    const copy = (Array.isArray(node) ? [...node] : { ...node }) as T;
    this.owned.add(copy);
    return copy;
  }

  /** The (owned) container at `path`, or null if a step is missing. */
  container(path: Path): Container | null {
    this.root = this.own(this.root);
    let node: Container = this.root;
    for (let depth = 0; depth < path.length; depth++) {
      const at = path.slice(0, depth + 1);
      const where = locate(node, path[depth] as PathSegment, at);
      if (where === null) return null;
      const next = child(node, where);
      if (typeof next !== "object" || next === null) {
        throw new OpError(`${show(at)}: a scalar where a map or list is needed`);
      }
      const owned = this.own(next);
      if (owned !== next) put(node, where, owned);
      node = owned;
    }
    return node;
  }

  private parent(path: Path): Container {
    const parent = this.container(path.slice(0, -1));
    if (parent === null) throw new OpError(`${show(path.slice(0, -1))}: no such map or list`);
    return parent;
  }

  set(path: Path, value: Value): void {
    if (path.length === 0) {
      this.root = value as ValueMap; // parseOp refuses a non-map document
      return;
    }
    const parent = this.parent(path);
    const last = path.at(-1) as PathSegment;
    const where = locate(parent, last, path);
    if (typeof last !== "string") {
      if (!matches(last, value)) {
        const [field, key] = selectorEntry(last);
        throw new OpError(`${show(path)}: the row must carry ${field}=${JSON.stringify(key)}`);
      }
      if (where === null) {
        (parent as Value[]).push(value);
        return;
      }
    }
    put(parent, where ?? (last as string), value);
  }

  merge(path: Path, values: ValueMap): void {
    if (path.length === 0) {
      this.root = this.own(this.root);
      for (const [key, value] of Object.entries(values)) putKey(this.root, key, value);
      return;
    }
    const parent = this.parent(path);
    const last = path.at(-1) as PathSegment;
    const where = locate(parent, last, path);
    if (typeof last !== "string") {
      const [field, key] = selectorEntry(last);
      if (hasKey(values, field) && !matches(last, values)) {
        throw new OpError(`${show(path)}: merge would change the row's ${field}`);
      }
      if (where === null) {
        (parent as Value[]).push({ [field]: key, ...values });
        return;
      }
    } else if (where === null) {
      putKey(parent as ValueMap, last, { ...values });
      return;
    }
    const target = child(parent, where as string | number);
    if (!isMap(target)) throw new OpError(`${show(path)}: merge into a ${kind(target)}`);
    const owned = this.own(target);
    put(parent, where as string | number, owned);
    for (const [key, value] of Object.entries(values)) putKey(owned, key, value);
  }

  remove(path: Path): void {
    const parent = this.container(path.slice(0, -1));
    if (parent === null) return;
    const where = locate(parent, path.at(-1) as PathSegment, path);
    if (where === null) return;
    if (Array.isArray(parent)) parent.splice(where as number, 1);
    else delete parent[where as string];
  }

  move(path: Path, row: Selector, index: number): void {
    const rows = this.container(path);
    if (rows === null) throw new OpError(`${show(path)}: no such list`);
    if (!Array.isArray(rows)) throw new OpError(`${show(path)}: move in a ${kind(rows)}`);
    const where = locate(rows, row, [...path, row]);
    if (where === null) throw new OpError(`${show([...path, row])}: no such row`);
    if (index >= rows.length) throw new OpError(`${show(path)}: index ${index} is past the end of ${rows.length} rows`);
    const [moved] = rows.splice(where as number, 1);
    rows.splice(index, 0, moved as Value);
  }
}

function read(document: Value, path: Path): Value | undefined {
  let node: Value = document;
  for (let depth = 0; depth < path.length; depth++) {
    if (typeof node !== "object" || node === null) return undefined;
    const where = locate(node, path[depth] as PathSegment, path.slice(0, depth + 1));
    if (where === null) return undefined;
    node = child(node, where);
  }
  return node;
}

/** The document after one delta's `ops`, as a new document (unchanged parts shared with the input); OpError
 * if they do not apply, in which case nothing changed. Idempotent: applying the result again gives an
 * equal document. */
export function applyOps(document: Document, ops: readonly Op[]): Document {
  if (!isMap(document)) throw new OpError("the document must be a map");
  try {
    checkOps(ops);
  } catch (error) {
    if (error instanceof OpFormatError) throw new OpError(error.message, Number(error.field));
    throw error;
  }
  const writer = new Writer(document);
  ops.forEach((op, index) => {
    try {
      if (op[0] === "set") writer.set(op[1], op[2]);
      else if (op[0] === "merge") writer.merge(op[1], op[2]);
      else if (op[0] === "remove") writer.remove(op[1]);
      else writer.move(op[1], op[2], op[3]);
    } catch (error) {
      if (error instanceof OpError) throw new OpError(error.message, index);
      throw error;
    }
  });
  const root = writer.root;
  // Every move must still hold once the whole delta is applied (§11.3).
  ops.forEach((op, index) => {
    if (op[0] !== "move") return;
    let rows: Value | undefined;
    try {
      rows = read(root, op[1]);
    } catch {
      rows = undefined;
    }
    if (!Array.isArray(rows) || op[3] >= rows.length || !matches(op[2], rows[op[3]])) {
      throw new OpError(
        `${show([...op[1], op[2]])} is no longer at index ${op[3]} after the delta ` +
          "(order the moves by ascending index, after the removals and insertions)",
        index,
      );
    }
  });
  return root;
}
