// Test helpers: a fake WebSocket that records what the client sends (decoded) and lets a test play the
// server (frames, closes), and builders of server messages.
import { decodeFrame, encodeMessage, type ClientMessage, type ServerMessage } from "@/protocol";

export class FakeWebSocket {
  static instances: FakeWebSocket[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readonly url: string;
  readonly protocols: string[];
  binaryType = "blob";
  readyState = FakeWebSocket.CONNECTING;
  /** Every frame the client sent, decoded as the server would. */
  readonly sent: ClientMessage[] = [];
  /** The client's close(code, reason), if it called it. */
  closedWith: { code: number | undefined; reason: string | undefined } | null = null;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(url: string, protocols?: string | string[]) {
    this.url = url;
    this.protocols = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    FakeWebSocket.instances.push(this);
  }

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static get last(): FakeWebSocket {
    const socket = FakeWebSocket.instances.at(-1);
    if (!socket) throw new Error("no socket was opened");
    return socket;
  }

  send(data: Uint8Array | string): void {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error("send on a socket that is not open");
    this.sent.push(decodeFrame(data, { side: "server", encoding: typeof data === "string" ? "json" : "msgpack" }) as ClientMessage);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = FakeWebSocket.CLOSING;
  }

  // ------------------------------------------------------------------------------- the server's side

  open(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({});
  }

  /** Delivers a server message, canonically encoded as msgpack (an ArrayBuffer, as browsers give). */
  push(message: ServerMessage): void {
    const bytes = encodeMessage(message, "msgpack");
    this.pushRaw(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  pushRaw(data: unknown): void {
    this.onmessage?.({ data });
  }

  /** The server closes (or the connection drops: 1006). */
  serverClose(code: number, reason = ""): void {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason });
  }

  /** The sent messages of one type. */
  sentOf<T extends ClientMessage["type"]>(type: T): Extract<ClientMessage, { type: T }>[] {
    return this.sent.filter((message) => message.type === type) as Extract<ClientMessage, { type: T }>[];
  }
}

export const USER_ID = "5b0c2a3e-8f1d-4c6b-9a7e-2d4f6b8c0a1e";
export const T0 = 1_795_167_000_000;

export function welcome(overrides: Partial<Extract<ServerMessage, { type: "welcome" }>> = {}): ServerMessage {
  return {
    type: "welcome",
    session_id: "s-1",
    user_id: USER_ID,
    heartbeat_ms: 25_000,
    server_time_ms: T0,
    expires_at_ms: T0 + 15 * 60_000,
    limits: {
      max_frame_bytes: 65536,
      max_depth: 32,
      max_string_bytes: 4096,
      max_array_length: 256,
      max_map_length: 64,
      max_subscriptions: 100,
      rate_per_second: 20,
      rate_burst: 40,
      max_ingest_events: 100,
      auth_timeout_ms: 10000,
    },
    ...overrides,
  } as ServerMessage;
}
