// GamifClient: one logical session with the hub, kept alive across connections (PROTOCOL.md §5, §12, §14,
// §17, §18). It connects, authenticates and pipelines a `subscribe` per watched topic (with `since` where a
// mirror holds a state), keeps one TopicMirror per topic and turns it into immutable views for the UI,
// repairs gaps and divergences, pings, refreshes the token in-band, and reconnects with backoff according
// to the close code. The decisions are delegated to pure code (backoff.ts, timing.ts, mirror.ts); this
// module wires them to the socket and the listeners. Time, randomness, timers and the WebSocket are
// injectable so that tests drive it deterministically.
import { ABNORMAL, closeInfo, PROTOCOL_ERROR, Reconnects } from "./backoff";
import { decodeFrame, encodeMessage, SUBPROTOCOLS, type Encoding } from "./codec";
import type { EventData, KnownEventName } from "./documents";
import { ProtocolError } from "./errors";
import { HEARTBEAT_MS, RATE_BURST, RATE_PER_SECOND } from "./limits";
import type {
  ClientMessage,
  DeltaBody,
  ErrorMessage,
  IngestEvent,
  Ingested,
  MessageId,
  ServerMessage,
  Subscribed,
  Unsubscribed,
} from "./messages";
import { Outcome, TopicMirror } from "./mirror";
import { Heartbeat, refreshDelayMs, TokenBucket } from "./timing";
import { isTopic } from "./topics";
import { freezeDeep } from "./values";

export type { IngestEvent } from "./messages";

/** "live": authenticated on an open connection. "offline": the browser says it is offline, or several
 * attempts in a row failed (the client keeps retrying). "closed": for good (see `fatal`). */
export type ConnectionState = "connecting" | "live" | "reconnecting" | "offline" | "closed";

export interface ConnectionStatus {
  state: ConnectionState;
  /** When the next connection attempt starts (ms since epoch), while one is scheduled. */
  retryAtMs?: number;
  /** The last close: code and reason, when there was one (1006: dropped without a close frame). */
  lastClose?: { code: number; reason: string };
  /** Round-trip time of the last ping, ms. */
  rttMs?: number;
  /** Why the client stopped for good (a close code that says do not reconnect, or auth refused twice);
   * absent after the application's own `close()`. */
  fatal?: string;
}

/** One topic's mirrored state as the UI reads it: a new frozen object per change. */
export interface TopicView<Doc = Record<string, unknown>> {
  topic: string;
  /** null until the first snapshot. Frozen: never mutate it. */
  doc: Doc | null;
  epoch: string | null;
  offset: number | null;
  /** True only while the connection is live and the mirror is in sync (no resubscribe outstanding). */
  fresh: boolean;
  /** Set when the server refused or ended the subscription (an error code, e.g. "unknown_topic"). */
  error?: string;
}

export interface ServerEvent<N extends string = string> {
  topic: string;
  name: N;
  data: N extends KnownEventName ? EventData[N] : Record<string, unknown>;
  atMs: number;
  offset?: number;
}

export interface IngestedReply {
  accepted: number;
  duplicates: number;
  rejected: number;
  rule_version: number;
  events: { id: string; status: "accepted" | "duplicate" | "rejected"; code?: string; reason?: string; field?: string }[];
}

/** The timer functions the client uses; by default the global ones, looked up at each call (so fake timers
 * installed after construction work too). */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Whether the browser is online, and its changes. */
export interface OnlineSource {
  isOnline(): boolean;
  subscribe(listener: (online: boolean) => void): () => void;
}

export interface ClientOptions {
  /** ws:// or wss:// URL of the hub's /ws. */
  url: string;
  /** Returns an access token; `fresh` true means the last one was refused or is expiring: get a new one.
   * Throw a `TokenUnavailableError` (or any error with `fatal: true`) when there is none to get (logged
   * out): the client closes. Other errors count as a failed connection attempt and are retried. */
  token: (fresh: boolean) => Promise<string>;
  /** A WebSocket constructor (defaults to globalThis.WebSocket). */
  WebSocket?: typeof WebSocket;
  /** Clock (ms since epoch) and randomness in [0, 1), for tests. */
  now?: () => number;
  random?: () => number;
  timers?: Timers;
  /** Defaults to navigator.onLine and the window's online/offline events when there are; null: ignore. */
  online?: OnlineSource | null;
  /** "msgpack" (default) or "json" (for debugging). */
  encoding?: Encoding;
  /** How long an attempt may take from opening to `welcome` before it is dropped (default 25 s). */
  welcomeTimeoutMs?: number;
  /** Failed attempts in a row after which the status says "offline" (default 3). */
  offlineAfterFailures?: number;
  /** Where expected oddities go (a message type this client does not know); defaults to console.debug. */
  debug?: (message: string, detail?: unknown) => void;
}

/** A request that failed: `code` is the server's error code (possibly one this client does not know), or
 * "not_connected" / "connection_lost" / "closed" when no reply could come. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  readonly code: string;
  readonly field: string | undefined;
  readonly topic: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly refId: string | undefined;

  constructor(code: string, message: string, details: Partial<Pick<ErrorMessage, "field" | "topic" | "retry_after_ms" | "ref_id">> = {}) {
    super(`${code}: ${message}`);
    this.code = code;
    this.field = details.field;
    this.topic = details.topic;
    this.retryAfterMs = details.retry_after_ms;
    this.refId = details.ref_id;
  }
}

/** Thrown by a token provider that has no token to give (the user logged out): the client closes. */
export class TokenUnavailableError extends Error {
  override readonly name = "TokenUnavailableError";
  readonly fatal = true;
}

/** Errors after which resubscribing is worth another try; any other leaves the view with its error. */
const RETRYABLE = new Set(["unavailable", "rate_limited", "internal_error"]);
const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 30_000;

// ------------------------------------------------------------------------------------------ internals

/** What the client uses of a WebSocket. */
interface Socket {
  binaryType: string;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

type Pending =
  | { kind: "auth" }
  | { kind: "ping" }
  | { kind: "subscribe"; topic: string }
  | { kind: "unsubscribe"; topic: string }
  | { kind: "refresh"; token: string }
  | { kind: "ingest"; resolve: (reply: IngestedReply) => void; reject: (error: Error) => void };

/** One WebSocket, from creation to close. */
interface Connection {
  socket: Socket;
  open: boolean;
  welcomed: boolean;
  requests: Map<MessageId, Pending>;
  outbox: { frame: Uint8Array | string; ping: boolean }[];
  bucket: TokenBucket;
  heartbeat: Heartbeat | null;
  timers: { welcome?: unknown; flush?: unknown; beat?: unknown };
}

interface Watcher {
  listener: (view: TopicView<unknown>) => void;
}

interface TopicEntry {
  topic: string;
  mirror: TopicMirror;
  watchers: Set<Watcher>;
  view: TopicView<unknown>;
  /** This connection's `subscribe` requests awaiting their reply: id → sent without `since`. */
  outstanding: Map<MessageId, boolean>;
  error?: string;
  retry?: { timer: unknown; attempt: number; pending: boolean };
}

function defaultOnline(): OnlineSource | null {
  const nav = (globalThis as { navigator?: { onLine?: unknown } }).navigator;
  const win = (globalThis as { window?: { addEventListener?: unknown; removeEventListener?: unknown } }).window;
  if (typeof nav?.onLine !== "boolean" || typeof win?.addEventListener !== "function") return null;
  const target = win as unknown as Window;
  return {
    isOnline: () => (globalThis.navigator as Navigator).onLine,
    subscribe(listener) {
      const online = () => listener(true);
      const offline = () => listener(false);
      target.addEventListener("online", online);
      target.addEventListener("offline", offline);
      return () => {
        target.removeEventListener("online", online);
        target.removeEventListener("offline", offline);
      };
    },
  };
}

const globalTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Calls a listener; an exception in it is reported asynchronously, without breaking the client. */
function call<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

export class GamifClient {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly encoding: Encoding;
  private readonly debug: (message: string, detail?: unknown) => void;
  private readonly reconnects: Reconnects;

  private statusValue: ConnectionStatus = Object.freeze({ state: "connecting" });
  private started = false;
  private ended = false;
  private conn: Connection | null = null;
  /** Bumped by every attempt and by the end: late callbacks of an older one are ignored. */
  private generation = 0;
  private readonly topics = new Map<string, TopicEntry>();
  private readonly eventListeners = new Set<{ listener: (event: ServerEvent) => void }>();
  private readonly statusListeners = new Set<{ listener: (status: ConnectionStatus) => void }>();
  private user: string | null = null;
  private token: string | null = null;
  private freshTokenNext = false;
  private expiresAtMs: number | null = null;
  private clockOffsetMs = 0;
  private refreshFailures = 0;
  private failuresInARow = 0;
  private nextId = 1;
  private retryTimer: unknown;
  private refreshTimer: unknown;
  private onlineSource: OnlineSource | null;
  private stopOnline: (() => void) | null = null;

  constructor(readonly options: ClientOptions) {
    this.now = options.now ?? (() => Date.now());
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? globalTimers;
    this.encoding = options.encoding ?? "msgpack";
    this.debug = options.debug ?? ((message, detail) => console.debug(`[gamif] ${message}`, detail ?? ""));
    this.reconnects = new Reconnects(this.random);
    this.onlineSource = options.online === undefined ? defaultOnline() : options.online;
  }

  // ----------------------------------------------------------------------------------- public surface

  /** Connects (once; later calls do nothing). */
  start(): void {
    if (this.started || this.ended) return;
    this.started = true;
    if (this.onlineSource) this.stopOnline = this.onlineSource.subscribe((online) => this.onlineChanged(online));
    if (this.onlineSource && !this.onlineSource.isOnline()) {
      this.setStatus({ state: "offline" });
      return;
    }
    this.setStatus({ state: "connecting" });
    this.connect();
  }

  /** Closes the connection (1000) and ends the client for good. */
  close(): void {
    if (this.ended) return;
    this.end(undefined);
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  /** The authenticated user (`welcome.user_id`); null before the first welcome. */
  get userId(): string | null {
    return this.user;
  }

  /** Subscribes to `topic` (ref-counted: the first watcher subscribes, the last unwatch unsubscribes). The
   * listener gets the current view at once and a new view after every change. Returns the unwatch. */
  watch<Doc = Record<string, unknown>>(topic: string, listener: (view: TopicView<Doc>) => void): () => void {
    let entry = this.topics.get(topic);
    const created = entry === undefined;
    if (entry === undefined) {
      entry = {
        topic,
        mirror: new TopicMirror(topic),
        watchers: new Set(),
        view: Object.freeze({ topic, doc: null, epoch: null, offset: null, fresh: false }),
        outstanding: new Map(),
      };
      if (!isTopic(topic)) entry.error = "invalid_message"; // what the server would answer (field `topic`)
      this.topics.set(topic, entry);
      this.updateView(entry);
    }
    const watcher: Watcher = { listener: listener as (view: TopicView<unknown>) => void };
    entry.watchers.add(watcher);
    call(watcher.listener, entry.view);
    if (created && entry.error === undefined) this.subscribe(entry);
    const held = entry;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      held.watchers.delete(watcher);
      if (held.watchers.size > 0 || this.topics.get(topic) !== held) return;
      this.topics.delete(topic);
      this.cancelRetry(held);
      const conn = this.conn;
      if (conn?.open && held.error === undefined) this.request(conn, { type: "unsubscribe", topic }, { kind: "unsubscribe", topic });
    };
  }

  /** Every `event` of the watched topics (known names typed; unknown names passed through). */
  onEvent(listener: (event: ServerEvent) => void): () => void {
    const entry = { listener };
    this.eventListeners.add(entry);
    return () => this.eventListeners.delete(entry);
  }

  /** The listener gets the current status at once and every new one after. */
  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    const entry = { listener };
    this.statusListeners.add(entry);
    call(listener, this.statusValue);
    return () => this.statusListeners.delete(entry);
  }

  /** Reports metric events; resolves with the `ingested` reply. Rejects with a RequestError (`code`: the
   * server's error code, or "not_connected" when not live) or a ProtocolError for invalid events. */
  ingest(events: IngestEvent[]): Promise<IngestedReply> {
    const conn = this.conn;
    if (conn === null || !conn.welcomed || this.ended) {
      return Promise.reject(new RequestError(this.ended ? "closed" : "not_connected", "the client is not connected"));
    }
    return new Promise((resolve, reject) => {
      try {
        this.request(conn, { type: "ingest", events }, { kind: "ingest", resolve, reject });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  // --------------------------------------------------------------------------------------- connecting

  private connect(): void {
    const generation = ++this.generation;
    // A token is asked for the first connection (fresh: false), and again (fresh: true) after 4001/4004 or
    // when the current one is due for refreshing; otherwise the current one is reused.
    const fresh = this.freshTokenNext || this.tokenStale();
    this.freshTokenNext = false;
    const current = this.token;
    const tokenPromise =
      fresh || current === null ? Promise.resolve().then(() => this.options.token(fresh)) : Promise.resolve(current);
    tokenPromise.then(
      (token) => {
        if (generation !== this.generation || this.ended) return;
        if (typeof token !== "string" || token.length === 0) {
          this.end("the token provider returned no token");
          return;
        }
        if (token !== this.token) this.expiresAtMs = null;
        this.token = token;
        this.open(generation);
      },
      (error: unknown) => {
        if (generation !== this.generation || this.ended) return;
        if ((error as { fatal?: unknown } | null)?.fatal === true) {
          this.end(`no token: ${error instanceof Error ? error.message : String(error)}`);
          return;
        }
        this.freshTokenNext = fresh;
        this.ended_(null, ABNORMAL, `the token provider failed: ${String(error)}`);
      },
    );
  }

  private open(generation: number): void {
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (Ctor === undefined) {
      this.end("no WebSocket implementation");
      return;
    }
    let socket: Socket;
    try {
      socket = new Ctor(this.options.url, [SUBPROTOCOLS[this.encoding]]) as unknown as Socket;
    } catch (error) {
      this.end(`cannot open ${this.options.url}: ${String(error)}`);
      return;
    }
    socket.binaryType = "arraybuffer";
    const conn: Connection = {
      socket,
      open: false,
      welcomed: false,
      requests: new Map(),
      outbox: [],
      bucket: new TokenBucket(RATE_PER_SECOND, RATE_BURST, this.now()),
      heartbeat: null,
      timers: {},
    };
    this.conn = conn;
    conn.timers.welcome = this.timers.setTimeout(() => {
      if (this.conn === conn && !conn.welcomed) this.drop(conn, ABNORMAL, "no welcome in time");
    }, this.options.welcomeTimeoutMs ?? HEARTBEAT_MS);
    socket.onopen = () => {
      if (this.conn !== conn || generation !== this.generation) return;
      conn.open = true;
      // §5 pipelining: auth, then every topic's subscribe, without waiting for welcome.
      this.request(conn, { type: "auth", token: this.token as string }, { kind: "auth" });
      for (const entry of this.topics.values()) {
        if (entry.error === undefined) this.subscribe(entry);
      }
    };
    socket.onmessage = (event) => {
      if (this.conn === conn) this.receive(conn, event.data);
    };
    socket.onclose = (event) => {
      if (this.conn === conn) this.ended_(conn, event.code, event.reason);
    };
    socket.onerror = () => undefined; // a close event follows, and decides
  }

  /** Drops a connection without waiting for the closing handshake, and handles it as closed with `code`. */
  private drop(conn: Connection, code: number, reason: string, closeCode?: number): void {
    try {
      conn.socket.close(closeCode ?? 1000, reason.slice(0, 100));
    } catch {
      conn.socket.close(); // browsers refuse to send some codes (1002): close without one
    }
    this.ended_(conn, code, reason);
  }

  /** A connection (or an attempt that produced none: conn null) ended: decide whether and when to retry. */
  private ended_(conn: Connection | null, code: number, reason: string): void {
    const welcomed = conn?.welcomed ?? false;
    if (conn !== null) this.teardown(conn);
    if (this.ended) return;
    const lastClose = { code, reason };
    const plan = this.reconnects.closed(code, this.now());
    if (plan.delayMs === null) {
      this.end(`${code} ${closeInfo(code).name}${reason ? `: ${reason}` : ""}`, lastClose);
      return;
    }
    this.failuresInARow = welcomed ? 0 : this.failuresInARow + 1;
    this.freshTokenNext ||= plan.newToken || this.tokenStale();
    if (this.onlineSource && !this.onlineSource.isOnline()) {
      this.setStatus({ state: "offline", lastClose }); // the `online` event reconnects
      return;
    }
    const retryAtMs = this.now() + plan.delayMs;
    const offline = this.failuresInARow >= (this.options.offlineAfterFailures ?? 3);
    this.setStatus({ state: offline ? "offline" : "reconnecting", retryAtMs, lastClose });
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.ended || this.conn !== null) return;
      this.setStatus({ state: this.statusValue.state === "offline" ? "offline" : "reconnecting" });
      this.connect();
    }, plan.delayMs);
  }

  /** Forgets a connection: its timers, its requests (ingests fail), the subscribes in flight. */
  private teardown(conn: Connection): void {
    if (this.conn === conn) this.conn = null;
    const socket = conn.socket;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    for (const timer of Object.values(conn.timers)) if (timer !== undefined) this.timers.clearTimeout(timer);
    conn.timers = {};
    if (this.refreshTimer !== undefined) this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    for (const pending of conn.requests.values()) {
      if (pending.kind === "ingest") pending.reject(new RequestError("connection_lost", "the connection closed before the reply"));
    }
    conn.requests.clear();
    for (const entry of this.topics.values()) {
      entry.outstanding.clear();
      this.cancelRetry(entry); // the next connection resubscribes every topic anyway
    }
    this.refreshViews();
  }

  /** Ends the client for good: `fatal` says why (undefined for the application's own close). */
  private end(fatal: string | undefined, lastClose?: { code: number; reason: string }): void {
    this.ended = true;
    this.generation++;
    const conn = this.conn;
    if (conn !== null) {
      try {
        conn.socket.close(1000, "closed by the client");
      } catch {
        // already closing
      }
      this.teardown(conn);
    }
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stopOnline?.();
    this.stopOnline = null;
    const status: ConnectionStatus = { state: "closed" };
    if (fatal !== undefined) status.fatal = fatal;
    if (lastClose !== undefined) status.lastClose = lastClose;
    this.setStatus(status);
  }

  private onlineChanged(online: boolean): void {
    if (this.ended) return;
    if (!online) {
      if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      if (this.conn !== null) this.drop(this.conn, ABNORMAL, "the browser went offline");
      else this.setStatus({ state: "offline" });
      return;
    }
    if (this.conn === null && this.statusValue.state === "offline") {
      if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.setStatus({ state: this.user === null ? "connecting" : "reconnecting" });
      this.connect();
    }
  }

  // ----------------------------------------------------------------------------------------- sending

  /** Sends a request (with a fresh id) on `conn`, paced by the rate limit, and records what it was for. */
  private request(conn: Connection, message: ClientMessage, pending: Pending): MessageId {
    const id = this.nextId++;
    const frame = encodeMessage({ ...message, id } as ClientMessage, this.encoding);
    conn.requests.set(id, pending);
    conn.outbox.push({ frame, ping: message.type === "ping" });
    this.flush(conn);
    return id;
  }

  private flush(conn: Connection): void {
    if (conn.timers.flush !== undefined) return; // a flush is already scheduled
    while (conn.outbox.length > 0 && this.conn === conn) {
      const delay = conn.bucket.delayMs(this.now());
      if (delay > 0) {
        conn.timers.flush = this.timers.setTimeout(() => {
          conn.timers.flush = undefined;
          this.flush(conn);
        }, Math.ceil(delay));
        return;
      }
      const { frame, ping } = conn.outbox.shift() as { frame: Uint8Array | string; ping: boolean };
      conn.bucket.take(this.now());
      conn.socket.send(frame);
      conn.heartbeat?.sent(this.now(), ping);
    }
    this.scheduleBeat(conn);
  }

  private subscribe(entry: TopicEntry): void {
    const conn = this.conn;
    if (conn === null || !conn.open) return; // the connection's opening subscribes every topic
    const since = entry.mirror.since(); // undefined: no state yet, or diverged
    const message = since === undefined ? { type: "subscribe" as const, topic: entry.topic } : { type: "subscribe" as const, topic: entry.topic, since };
    const id = this.request(conn, message, { kind: "subscribe", topic: entry.topic });
    entry.outstanding.set(id, since === undefined);
    this.updateView(entry);
  }

  // --------------------------------------------------------------------------------------- receiving

  private receive(conn: Connection, data: unknown): void {
    const frame = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array || typeof data === "string" ? data : null;
    if (frame === null) {
      this.drop(conn, PROTOCOL_ERROR, "wrong_frame_type", PROTOCOL_ERROR);
      return;
    }
    let message: ServerMessage;
    try {
      message = decodeFrame(frame, { side: "client", encoding: this.encoding }) as ServerMessage;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      if (error.fatal) {
        // §16: a server frame that cannot be read means a broken server: close 1002, reconnect with backoff.
        this.debug("closing: the server sent a frame that does not decode", error.message);
        this.drop(conn, PROTOCOL_ERROR, error.code, PROTOCOL_ERROR);
        return;
      }
      if (error.code === "unknown_type") {
        this.debug("ignoring a message of a type this client does not know", error.message); // §19
        return;
      }
      this.debug("ignoring an invalid message from the server", error.message);
      // A reply to one of our requests stands as an error: the request must not wait forever.
      if (error.messageId === undefined || !conn.requests.has(error.messageId)) return;
      message = { type: "error", id: error.messageId, code: error.code, message: error.message.slice(0, 1024) };
      if (error.field !== undefined) message.field = error.field.slice(0, 256);
    }
    this.dispatch(conn, message);
  }

  private settle(conn: Connection, id: MessageId | undefined): Pending | undefined {
    if (id === undefined) return undefined;
    const pending = conn.requests.get(id);
    conn.requests.delete(id);
    if (pending?.kind === "subscribe") this.topics.get(pending.topic)?.outstanding.delete(id);
    return pending;
  }

  private dispatch(conn: Connection, message: ServerMessage): void {
    switch (message.type) {
      case "welcome": {
        this.settle(conn, message.id);
        const now = this.now();
        if (conn.timers.welcome !== undefined) this.timers.clearTimeout(conn.timers.welcome);
        conn.timers.welcome = undefined;
        conn.welcomed = true;
        this.user = message.user_id;
        this.clockOffsetMs = message.server_time_ms - now;
        this.expiresAtMs = message.expires_at_ms;
        this.refreshFailures = 0;
        this.failuresInARow = 0;
        this.reconnects.welcomed(now);
        conn.bucket.configure(message.limits.rate_per_second, message.limits.rate_burst, now);
        conn.heartbeat = new Heartbeat(message.heartbeat_ms, now);
        this.scheduleBeat(conn);
        this.scheduleRefresh(conn);
        this.setStatus({ state: "live" });
        return;
      }
      case "subscribed":
        this.settle(conn, message.id);
        this.subscribed(message);
        return;
      case "delta":
        this.deltas([message]);
        return;
      case "batch":
        this.deltas(message.deltas);
        return;
      case "event": {
        if (!this.topics.has(message.topic)) return; // unwatched meanwhile
        const event: ServerEvent = { topic: message.topic, name: message.name, data: freezeDeep(message.data), atMs: message.at_ms };
        if (message.offset !== undefined) event.offset = message.offset;
        Object.freeze(event);
        for (const { listener } of [...this.eventListeners]) call(listener, event);
        return;
      }
      case "unsubscribed": {
        const pending = this.settle(conn, message.id);
        if (pending?.kind !== "unsubscribe") this.serverUnsubscribed(message);
        return;
      }
      case "pong": {
        this.settle(conn, message.id);
        const rtt = conn.heartbeat?.pong(this.now()) ?? null;
        this.scheduleBeat(conn);
        if (rtt !== null) this.setStatus({ ...this.statusValue, rttMs: rtt });
        return;
      }
      case "refreshed": {
        const pending = this.settle(conn, message.id);
        if (pending?.kind === "refresh") this.token = pending.token;
        this.expiresAtMs = message.expires_at_ms;
        this.refreshFailures = 0;
        this.scheduleRefresh(conn);
        return;
      }
      case "ingested": {
        const pending = this.settle(conn, message.id);
        if (pending?.kind === "ingest") pending.resolve(ingestedReply(message));
        return;
      }
      case "error":
        this.failed(conn, message, this.settle(conn, message.id));
        return;
    }
  }

  private subscribed(message: Subscribed): void {
    const entry = this.topics.get(message.topic);
    if (entry === undefined) return; // unwatched meanwhile
    const outcome = entry.mirror.applySubscribed(message);
    if (outcome === Outcome.APPLIED) delete entry.error;
    else this.repair(entry, outcome);
    this.updateView(entry);
  }

  /** Deltas in order (a `delta`, or a batch's, which is the same as separate deltas); one view per topic. */
  private deltas(deltas: DeltaBody[]): void {
    const changed = new Set<TopicEntry>();
    for (const delta of deltas) {
      const entry = this.topics.get(delta.topic);
      if (entry === undefined) continue;
      const outcome = entry.mirror.applyDelta(delta);
      if (outcome === Outcome.APPLIED) changed.add(entry);
      else if (outcome !== Outcome.DUPLICATE) {
        this.repair(entry, outcome);
        changed.add(entry);
      }
    }
    for (const entry of changed) this.updateView(entry);
  }

  /** §12: on a gap, subscribe with `since` unless a subscribe is already on its way (its reply repairs
   * whatever is missing); on a divergence, subscribe without `since` unless such a one is on its way. */
  private repair(entry: TopicEntry, outcome: Outcome): void {
    if (outcome === Outcome.GAP && entry.outstanding.size > 0) return;
    if (outcome === Outcome.DIVERGED && [...entry.outstanding.values()].some(Boolean)) return;
    this.subscribe(entry);
  }

  private serverUnsubscribed(message: Unsubscribed): void {
    const entry = this.topics.get(message.topic);
    if (entry === undefined) return;
    entry.outstanding.clear();
    if (message.reason === undefined || message.reason === "unavailable") this.retryLater(entry);
    else entry.error = message.reason;
    this.updateView(entry);
  }

  private failed(conn: Connection, error: ErrorMessage, pending: Pending | undefined): void {
    if (pending === undefined) {
      this.debug(`the server reported ${error.code}`, error.message);
      return;
    }
    switch (pending.kind) {
      case "subscribe": {
        const entry = this.topics.get(pending.topic);
        if (entry === undefined) return;
        if (RETRYABLE.has(error.code)) this.retryLater(entry, error.retry_after_ms);
        else entry.error = error.code;
        this.updateView(entry);
        return;
      }
      case "ingest":
        pending.reject(new RequestError(error.code, error.message, error));
        return;
      case "refresh": // the session keeps its token until it expires; try again later (§18)
        this.refreshFailures++;
        this.scheduleRefresh(conn);
        return;
      default:
        this.debug(`the server refused a ${pending.kind}: ${error.code}`, error.message);
    }
  }

  /** Resubscribes after a backoff (the server was unavailable for this topic). */
  private retryLater(entry: TopicEntry, afterMs?: number): void {
    const attempt = entry.retry?.attempt ?? 0;
    this.cancelRetry(entry);
    const delay = afterMs ?? Math.floor(this.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 16)));
    const retry = { timer: undefined as unknown, attempt: attempt + 1, pending: true };
    retry.timer = this.timers.setTimeout(() => {
      retry.pending = false;
      if (this.topics.get(entry.topic) === entry) this.subscribe(entry);
    }, delay);
    entry.retry = retry;
  }

  private cancelRetry(entry: TopicEntry): void {
    if (entry.retry?.pending) this.timers.clearTimeout(entry.retry.timer);
    if (entry.retry) entry.retry.pending = false;
  }

  // ------------------------------------------------------------------------------------------- timing

  private scheduleBeat(conn: Connection): void {
    const heartbeat = conn.heartbeat;
    if (heartbeat === null || this.conn !== conn) return;
    if (conn.timers.beat !== undefined) this.timers.clearTimeout(conn.timers.beat);
    const { inMs } = heartbeat.next(this.now());
    conn.timers.beat = this.timers.setTimeout(() => {
      conn.timers.beat = undefined;
      if (this.conn !== conn) return;
      const next = heartbeat.next(this.now());
      if (next.inMs > 0) this.scheduleBeat(conn);
      else if (next.action === "drop") this.drop(conn, ABNORMAL, `no pong within ${heartbeat.intervalMs} ms`);
      else this.request(conn, { type: "ping" }, { kind: "ping" }); // flush reschedules
    }, Math.max(0, inMs));
  }

  private serverNowMs(): number {
    return this.now() + this.clockOffsetMs;
  }

  /** Whether the token is due for refreshing anyway: then reconnect with a new one. */
  private tokenStale(): boolean {
    return this.expiresAtMs !== null && refreshDelayMs(this.expiresAtMs, this.serverNowMs()) === 0;
  }

  /** §18: refresh in-band at 80% of the token's life (not later than 60 s before expiry, not before half). */
  private scheduleRefresh(conn: Connection): void {
    if (this.refreshTimer !== undefined) this.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (this.expiresAtMs === null || this.conn !== conn) return;
    const delay = refreshDelayMs(this.expiresAtMs, this.serverNowMs(), this.refreshFailures);
    this.refreshTimer = this.timers.setTimeout(() => {
      this.refreshTimer = undefined;
      Promise.resolve()
        .then(() => this.options.token(true))
        .then(
          (token) => {
            if (this.conn !== conn || !conn.welcomed) return;
            this.request(conn, { type: "refresh", token }, { kind: "refresh", token });
          },
          () => {
            if (this.conn !== conn) return;
            this.refreshFailures++;
            this.scheduleRefresh(conn);
          },
        );
    }, delay);
  }

  // -------------------------------------------------------------------------------------------- views

  private setStatus(status: ConnectionStatus): void {
    const next: ConnectionStatus = { ...status };
    // What is known of the connection outlives the state it was learnt in.
    if (next.lastClose === undefined && this.statusValue.lastClose !== undefined) next.lastClose = this.statusValue.lastClose;
    if (next.rttMs === undefined && this.statusValue.rttMs !== undefined) next.rttMs = this.statusValue.rttMs;
    const previous = this.statusValue;
    this.statusValue = Object.freeze(next);
    for (const { listener } of [...this.statusListeners]) call(listener, this.statusValue);
    if (previous.state !== next.state) this.refreshViews();
  }

  private refreshViews(): void {
    for (const entry of this.topics.values()) this.updateView(entry);
  }

  /** A new frozen view when something the UI sees changed, and the watchers told. */
  private updateView(entry: TopicEntry): void {
    const mirror = entry.mirror;
    const fresh =
      this.statusValue.state === "live" &&
      this.conn?.welcomed === true &&
      mirror.synced &&
      !mirror.diverged &&
      entry.outstanding.size === 0 &&
      entry.retry?.pending !== true &&
      entry.error === undefined;
    const previous = entry.view;
    const doc = mirror.document === null ? null : freezeDeep(mirror.document);
    if (
      previous.doc === doc &&
      previous.epoch === mirror.epoch &&
      previous.offset === mirror.offset &&
      previous.fresh === fresh &&
      previous.error === entry.error
    ) {
      return;
    }
    const view: TopicView<unknown> = { topic: entry.topic, doc, epoch: mirror.epoch, offset: mirror.offset, fresh };
    if (entry.error !== undefined) view.error = entry.error;
    entry.view = Object.freeze(view);
    for (const watcher of [...entry.watchers]) call(watcher.listener, entry.view);
  }
}

function ingestedReply(message: Ingested): IngestedReply {
  return {
    accepted: message.accepted,
    duplicates: message.duplicates,
    rejected: message.rejected,
    rule_version: message.rule_version,
    events: message.events,
  };
}
