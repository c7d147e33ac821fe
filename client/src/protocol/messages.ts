// Every message of protocol v1 (PROTOCOL.md §4–§7, §13) as typed wire maps, and their validation, ported
// from protocol/messages.py. `fromWire` checks a decoded map the way the Python models do: scalars are
// strict ("1" is not an integer, true is not a number), `null` counts as an absent optional field, unknown
// fields are dropped (a v1 peer may add optional ones), and a failure names the field's dotted path
// (`since.offset`, `events.3.occurred_at_ms`, `ops.0.1.1`, `data.level`).
import { ProtocolError } from "./errors";
import { MAX_INGEST_EVENTS } from "./limits";
import { checkOps, OpFormatError, parseOp, type Op } from "./ops";
import { isTopic, MAX_TOPIC_LENGTH_HINT } from "./topics";
import { codePointLength, hasKey, isMap, isSafeInteger, MAX_SAFE_INTEGER, type Value, type ValueMap } from "./values";

export type Side = "client" | "server";
export type MessageId = number | string;

// ------------------------------------------------------------------------------------- client → server

export interface Auth {
  type: "auth";
  id?: MessageId;
  token: string;
}
/** Where a mirror stands: the state after `offset` in `epoch`. */
export interface Since {
  epoch: string;
  offset: number;
}
export interface Subscribe {
  type: "subscribe";
  id?: MessageId;
  topic: string;
  since?: Since;
}
export interface Unsubscribe {
  type: "unsubscribe";
  id?: MessageId;
  topic: string;
}
export interface Ping {
  type: "ping";
  id?: MessageId;
}
export interface Refresh {
  type: "refresh";
  id?: MessageId;
  token: string;
}
/** One metric event (the HTTP API's MetricEventIn, with `occurred_at_ms`). */
export interface IngestEvent {
  id: string;
  metric: string;
  value: number;
  occurred_at_ms: number;
  user?: string;
  metadata?: Record<string, unknown>;
}
export interface Ingest {
  type: "ingest";
  id?: MessageId;
  events: IngestEvent[];
}

// ------------------------------------------------------------------------------------- server → client

/** What the server enforces on the session (`welcome.limits`). */
export interface SessionLimits {
  max_frame_bytes: number;
  max_depth: number;
  max_string_bytes: number;
  max_array_length: number;
  max_map_length: number;
  max_subscriptions: number;
  rate_per_second: number;
  rate_burst: number;
  max_ingest_events: number;
  auth_timeout_ms: number;
}
export interface Welcome {
  type: "welcome";
  id?: MessageId;
  session_id: string;
  user_id: string;
  heartbeat_ms: number;
  server_time_ms: number;
  expires_at_ms: number;
  limits: SessionLimits;
}
/** A delta without `type`: the element of `batch.deltas` and `subscribed.deltas`. */
export interface DeltaBody {
  topic: string;
  epoch: string;
  offset: number;
  ops: Op[];
  at_ms: number;
}
export interface Delta extends DeltaBody {
  type: "delta";
}
export interface Subscribed {
  type: "subscribed";
  id?: MessageId;
  topic: string;
  epoch: string;
  offset: number;
  recovered: boolean;
  /** When `recovered` is false: the whole document at `offset`. */
  snapshot?: ValueMap;
  /** When `recovered` is true: the missed deltas, consecutive, the last at `offset`. */
  deltas?: DeltaBody[];
}
export interface Batch {
  type: "batch";
  deltas: DeltaBody[];
}
export interface EventMessage {
  type: "event";
  topic: string;
  name: string;
  data: ValueMap;
  at_ms: number;
  offset?: number;
}
export interface Unsubscribed {
  type: "unsubscribed";
  id?: MessageId;
  topic: string;
  reason?: string;
}
export interface Pong {
  type: "pong";
  id?: MessageId;
  server_time_ms: number;
}
export interface Refreshed {
  type: "refreshed";
  id?: MessageId;
  expires_at_ms: number;
}
export interface IngestStatus {
  id: string;
  status: "accepted" | "duplicate" | "rejected";
  code?: string;
  reason?: string;
  field?: string;
}
export interface Ingested {
  type: "ingested";
  id?: MessageId;
  accepted: number;
  duplicates: number;
  rejected: number;
  rule_version: number;
  events: IngestStatus[];
}
export interface ErrorMessage {
  type: "error";
  id?: MessageId;
  /** An error code; possibly one this client does not know (the request failed all the same). */
  code: string;
  message: string;
  field?: string;
  topic?: string;
  retry_after_ms?: number;
  ref_id?: string;
}

export type ClientMessage = Auth | Subscribe | Unsubscribe | Ping | Refresh | Ingest;
export type ServerMessage =
  | Welcome
  | Subscribed
  | Delta
  | Batch
  | EventMessage
  | Unsubscribed
  | Pong
  | Refreshed
  | Ingested
  | ErrorMessage;
export type Message = ClientMessage | ServerMessage;
export type MessageType = Message["type"];

export const CLIENT_MESSAGE_TYPES = ["auth", "subscribe", "unsubscribe", "ping", "refresh", "ingest"] as const;
export const SERVER_MESSAGE_TYPES = [
  "welcome",
  "subscribed",
  "delta",
  "batch",
  "event",
  "unsubscribed",
  "pong",
  "refreshed",
  "ingested",
  "error",
] as const;

/** Who sends messages of `type`, or null for a type v1 does not define. */
export function senderOf(type: string): Side | null {
  if ((CLIENT_MESSAGE_TYPES as readonly string[]).includes(type)) return "client";
  if ((SERVER_MESSAGE_TYPES as readonly string[]).includes(type)) return "server";
  return null;
}

// ----------------------------------------------------------------------------------------- field checks

/** A field that fails validation; `fromWire` turns it into ProtocolError `invalid_message`. */
class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function join(path: string, key: string | number): string {
  return path === "" ? String(key) : `${path}.${key}`;
}

type Check<T> = (value: Value, path: string) => T;

const TOKEN = /^[A-Za-z0-9_.:-]{1,64}$/;
const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const USER_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const HANDLE = /^[a-z0-9][a-z0-9_.-]{1,63}$/;

function str(options: { min?: number; max?: number; pattern?: RegExp } = {}): Check<string> {
  return (value, path) => {
    if (typeof value !== "string") throw new FieldError(path, "Input should be a valid string");
    const length = options.min !== undefined || options.max !== undefined ? codePointLength(value) : 0;
    if (options.min !== undefined && length < options.min) {
      throw new FieldError(path, `String should have at least ${options.min} character${options.min === 1 ? "" : "s"}`);
    }
    if (options.max !== undefined && length > options.max) {
      throw new FieldError(path, `String should have at most ${options.max} characters`);
    }
    if (options.pattern !== undefined && !options.pattern.test(value)) {
      throw new FieldError(path, `String should match pattern '${options.pattern.source}'`);
    }
    return value;
  };
}

function int(min: number, max = MAX_SAFE_INTEGER): Check<number> {
  return (value, path) => {
    if (typeof value !== "number" || !Number.isInteger(value)) throw new FieldError(path, "Input should be a valid integer");
    if (value < min) throw new FieldError(path, `Input should be greater than or equal to ${min}`);
    if (value > max) throw new FieldError(path, `Input should be less than or equal to ${max}`);
    return value;
  };
}

const count = int(0);
const positive = int(1);
const timeMs = count;
const anyInt = int(-MAX_SAFE_INTEGER);
const token = str({ pattern: TOKEN });
const code = str({ pattern: CODE });
const plainString = str();
const text = str({ max: 4096 });

const numberCheck: Check<number> = (value, path) => {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new FieldError(path, "Input should be a number");
  return value;
};

const bool: Check<boolean> = (value, path) => {
  if (typeof value !== "boolean") throw new FieldError(path, "Input should be a valid boolean");
  return value;
};

function map(maxEntries?: number): Check<ValueMap> {
  return (value, path) => {
    if (!isMap(value)) throw new FieldError(path, "Input should be a valid dictionary");
    if (maxEntries !== undefined && Object.keys(value).length > maxEntries) {
      throw new FieldError(path, `Dictionary should have at most ${maxEntries} items`);
    }
    return value;
  };
}

function literal<T extends string>(...values: T[]): Check<T> {
  return (value, path) => {
    if (typeof value !== "string" || !(values as string[]).includes(value)) {
      throw new FieldError(path, `Input should be ${values.map((v) => `'${v}'`).join(", ")}`);
    }
    return value as T;
  };
}

const topic: Check<string> = (value, path) => {
  const name = plainString(value, path);
  if (!isTopic(name)) throw new FieldError(path, `not a topic (see the topic grammar; ${MAX_TOPIC_LENGTH_HINT})`);
  return name;
};

function isMessageId(value: unknown): value is MessageId {
  return (isSafeInteger(value) && value >= 0) || (typeof value === "string" && TOKEN.test(value));
}

const messageId: Check<MessageId> = (value, path) => {
  if (!isMessageId(value)) {
    throw new FieldError(path, "an id is an integer from 0 to 2^53 - 1, or 1 to 64 characters of A-Z a-z 0-9 _ . : -");
  }
  return value;
};

function list<T>(item: Check<T>, options: { min?: number; max?: number } = {}): Check<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) throw new FieldError(path, "Input should be a valid array");
    if (options.min !== undefined && value.length < options.min) {
      throw new FieldError(path, `should have at least ${options.min} item${options.min === 1 ? "" : "s"}`);
    }
    if (options.max !== undefined && value.length > options.max) {
      throw new FieldError(path, `should have at most ${options.max} items`);
    }
    return value.map((element, i) => item(element, join(path, i)));
  };
}

/** Reads the fields of one map, in declaration order, into a new object of only those fields. */
class Reader {
  readonly out: Record<string, unknown> = {};
  constructor(
    private readonly data: ValueMap,
    private readonly path: string,
  ) {}

  private raw(name: string): Value | undefined {
    if (!hasKey(this.data, name)) return undefined;
    const value = this.data[name] as Value;
    return value === null ? undefined : value; // null: an absent optional field (§3.2)
  }

  req<T>(name: string, check: Check<T>): T {
    const value = this.raw(name);
    const path = join(this.path, name);
    if (value === undefined) {
      if (hasKey(this.data, name)) check(null, path); // a null where a value is required: its type error
      throw new FieldError(path, "Field required");
    }
    const checked = check(value, path);
    this.out[name] = checked;
    return checked;
  }

  opt<T>(name: string, check: Check<T>): T | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const checked = check(value, join(this.path, name));
    this.out[name] = checked;
    return checked;
  }
}

function model<T>(read: (r: Reader, data: ValueMap) => void): Check<T> {
  return (value, path) => {
    if (!isMap(value)) throw new FieldError(path, "Input should be a valid dictionary");
    const reader = new Reader(value, path);
    read(reader, value);
    return reader.out as T;
  };
}

// ----------------------------------------------------------------------------------------------- pieces

const ops: Check<Op[]> = (value, path) => {
  if (!Array.isArray(value)) throw new FieldError(path, "ops is an array of ops");
  const parsed = value.map((item, i) => {
    try {
      return parseOp(item);
    } catch (error) {
      if (error instanceof OpFormatError) throw new FieldError(join(path, error.field ? `${i}.${error.field}` : i), error.message);
      throw error;
    }
  });
  try {
    checkOps(parsed);
  } catch (error) {
    if (error instanceof OpFormatError) throw new FieldError(join(path, error.field), error.message);
    throw error;
  }
  return parsed as Op[];
};

const since = model<Since>((r) => {
  r.req("epoch", token);
  r.req("offset", count);
});

const deltaBody = model<DeltaBody>((r) => {
  r.req("topic", topic);
  r.req("epoch", token);
  r.req("offset", positive);
  r.req("ops", ops);
  r.req("at_ms", timeMs);
});

const ingestEvent = model<IngestEvent>((r) => {
  r.req("id", str({ min: 1, max: 128 }));
  r.opt("user", str({ pattern: HANDLE }));
  r.req("metric", str({ min: 1, max: 64 }));
  r.req("value", numberCheck);
  r.req("occurred_at_ms", timeMs);
  r.opt("metadata", map(32));
});

const sessionLimits = model<SessionLimits>((r) => {
  for (const name of [
    "max_frame_bytes",
    "max_depth",
    "max_string_bytes",
    "max_array_length",
    "max_map_length",
    "max_subscriptions",
    "rate_per_second",
    "rate_burst",
    "max_ingest_events",
    "auth_timeout_ms",
  ]) {
    r.req(name, positive);
  }
});

const ingestStatus = model<IngestStatus>((r) => {
  r.req("id", str({ min: 1, max: 128 }));
  r.req("status", literal("accepted", "duplicate", "rejected"));
  r.opt("code", code);
  r.opt("reason", str({ max: 1024 }));
  r.opt("field", str({ max: 256 }));
});

// ------------------------------------------------------------------------------------------ event data

function explained(r: Reader): void {
  r.req("rule_id", plainString);
  r.req("rule_version", count);
  r.req("explanation", text);
  r.opt("summary", text);
}

/** The data of each event name of v1 (§13); names not listed here pass unchecked (clients ignore them). */
export const EVENT_DATA: Readonly<Record<string, Check<ValueMap>>> = {
  xp_awarded: model((r) => {
    explained(r);
    r.req("amount", anyInt);
    r.req("xp", count);
  }),
  level_up: model((r) => {
    explained(r);
    r.req("level", positive);
    r.req("previous_level", positive);
    r.req("xp", count);
  }),
  badge_earned: model((r) => {
    explained(r);
    r.req("key", plainString);
    r.req("badge_id", plainString);
    r.req("name", plainString);
    r.opt("tier", plainString);
    r.opt("period", plainString);
    r.opt("xp", count);
  }),
  mission_completed: model((r) => {
    explained(r);
    r.req("key", plainString);
    r.req("mission_id", plainString);
    r.req("name", plainString);
    r.req("period", plainString);
    r.req("reward_xp", count);
  }),
  streak_extended: model((r) => {
    explained(r);
    r.req("streak_id", plainString);
    r.req("name", plainString);
    r.req("current", positive);
    r.req("best", positive);
  }),
  streak_broken: model((r) => {
    explained(r);
    r.req("streak_id", plainString);
    r.req("name", plainString);
    r.req("previous", positive);
  }),
  rank_changed: model((r) => {
    r.req("board", plainString);
    r.req("period", literal("daily", "weekly", "monthly", "all_time"));
    r.req("rank", positive);
    r.opt("previous_rank", positive);
    r.req("score", numberCheck);
    r.req("top", positive);
  }),
  announcement: model((r) => {
    r.req("title", str({ max: 200 }));
    r.req("text", text);
    r.req("severity", literal("info", "warning", "critical"));
    r.opt("url", str({ max: 2048 }));
  }),
};

// --------------------------------------------------------------------------------------------- messages

const MESSAGES: Readonly<Record<MessageType, (r: Reader) => void>> = {
  auth: (r) => {
    r.opt("id", messageId);
    r.req("token", str({ min: 1, max: 4096 }));
  },
  subscribe: (r) => {
    r.opt("id", messageId);
    r.req("topic", topic);
    r.opt("since", since);
  },
  unsubscribe: (r) => {
    r.opt("id", messageId);
    r.req("topic", topic);
  },
  ping: (r) => {
    r.opt("id", messageId);
  },
  refresh: (r) => {
    r.opt("id", messageId);
    r.req("token", str({ min: 1, max: 4096 }));
  },
  ingest: (r) => {
    r.opt("id", messageId);
    r.req("events", list(ingestEvent, { min: 1, max: MAX_INGEST_EVENTS }));
  },
  welcome: (r) => {
    r.opt("id", messageId);
    r.req("session_id", token);
    r.req("user_id", str({ pattern: USER_ID }));
    r.req("heartbeat_ms", positive);
    r.req("server_time_ms", timeMs);
    r.req("expires_at_ms", timeMs);
    r.req("limits", sessionLimits);
  },
  subscribed: (r) => {
    r.opt("id", messageId);
    const name = r.req("topic", topic);
    const epoch = r.req("epoch", token);
    const offset = r.req("offset", count);
    const recovered = r.req("recovered", bool);
    const snapshot = r.opt("snapshot", map());
    const deltas = r.opt("deltas", list(deltaBody));
    if (!recovered) {
      if (deltas !== undefined) throw new FieldError("deltas", "only a recovered subscription carries deltas");
      if (snapshot === undefined) throw new FieldError("snapshot", "required when recovered is false");
      return;
    }
    if (snapshot !== undefined) throw new FieldError("snapshot", "a recovered subscription carries deltas, not a snapshot");
    if (deltas === undefined) throw new FieldError("deltas", "required when recovered is true");
    let previous: number | null = null;
    deltas.forEach((delta, i) => {
      if (delta.topic !== name) throw new FieldError(`deltas.${i}.topic`, "must be the subscription's topic");
      if (delta.epoch !== epoch) throw new FieldError(`deltas.${i}.epoch`, "must be the subscription's epoch");
      if (previous !== null && delta.offset !== previous + 1) {
        throw new FieldError(`deltas.${i}.offset`, "must follow the previous delta's offset");
      }
      previous = delta.offset;
    });
    if (previous !== null && previous !== offset) throw new FieldError("offset", "must be the last delta's offset");
  },
  delta: (r) => {
    r.req("topic", topic);
    r.req("epoch", token);
    r.req("offset", positive);
    r.req("ops", ops);
    r.req("at_ms", timeMs);
  },
  batch: (r) => {
    const deltas = r.req("deltas", list(deltaBody, { min: 1 }));
    const last = new Map<string, number>();
    deltas.forEach((delta, i) => {
      if (delta.offset <= (last.get(delta.topic) ?? 0)) {
        throw new FieldError(`deltas.${i}.offset`, "a topic's deltas come in increasing offset order");
      }
      last.set(delta.topic, delta.offset);
    });
  },
  event: (r) => {
    r.req("topic", topic);
    const name = r.req("name", code);
    const data = r.req("data", map());
    r.req("at_ms", timeMs);
    r.opt("offset", positive);
    const check = hasKey(EVENT_DATA, name) ? EVENT_DATA[name] : undefined;
    check?.(data, "data"); // validated, but the data stays whole: unknown fields pass through
  },
  unsubscribed: (r) => {
    r.opt("id", messageId);
    r.req("topic", topic);
    r.opt("reason", code);
  },
  pong: (r) => {
    r.opt("id", messageId);
    r.req("server_time_ms", timeMs);
  },
  refreshed: (r) => {
    r.opt("id", messageId);
    r.req("expires_at_ms", timeMs);
  },
  ingested: (r) => {
    r.opt("id", messageId);
    r.req("accepted", count);
    r.req("duplicates", count);
    r.req("rejected", count);
    r.req("rule_version", count);
    r.req("events", list(ingestStatus));
  },
  error: (r) => {
    r.opt("id", messageId);
    r.req("code", code);
    r.req("message", str({ max: 1024 }));
    r.opt("field", str({ max: 256 }));
    r.opt("topic", topic);
    r.opt("retry_after_ms", count);
    r.opt("ref_id", token);
  },
};

/** Validates a wire map sent by `sender` (a client accepts only server messages and the other way round;
 * undefined accepts any type). Returns a new map of the type's fields only. Throws ProtocolError
 * `invalid_message` (field `type` when it is missing or not a string; otherwise the offending field's
 * path) or `unknown_type`. */
export function fromWire(data: ValueMap, sender?: Side): Message {
  const rawId = hasKey(data, "id") ? data.id : undefined;
  const messageId = isMessageId(rawId) ? rawId : undefined;
  const kind = hasKey(data, "type") ? data.type : undefined;
  if (typeof kind !== "string") {
    const problem = kind === undefined || kind === null ? "missing" : "must be a string";
    throw new ProtocolError("invalid_message", `type: ${problem}`, "type", { messageId });
  }
  const side = senderOf(kind);
  if (side === null || (sender !== undefined && side !== sender)) {
    const shown = kind.length <= 64 ? kind : `${kind.slice(0, 64)}…`;
    throw new ProtocolError("unknown_type", `unknown message type ${JSON.stringify(shown)}`, undefined, { messageId });
  }
  const reader = new Reader(data, "");
  try {
    (MESSAGES[kind as MessageType] as (r: Reader) => void)(reader);
  } catch (error) {
    if (!(error instanceof FieldError)) throw error;
    throw new ProtocolError("invalid_message", `${error.field}: ${error.message}`, error.field, {
      messageId,
      messageType: kind,
    });
  }
  return { type: kind, ...reader.out } as Message;
}

/** The typed data of a known event name, or undefined for a name v1 does not define. */
export function isKnownEvent(name: string): boolean {
  return hasKey(EVENT_DATA, name);
}
