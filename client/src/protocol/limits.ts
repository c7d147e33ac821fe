// The protocol's numbers (PROTOCOL.md §14, §15). Frames a client sends are held to CLIENT_FRAME_LIMITS
// (announced in welcome.limits); frames the server sends stay within SERVER_FRAME_LIMITS, which every
// client decoder must accept.

/** What a decoder accepts in one frame. Strings count UTF-8 bytes; arrays and maps count elements; the
 * depth counts nested arrays and maps, the frame's own map being depth 1. */
export interface FrameLimits {
  readonly maxFrameBytes: number;
  readonly maxDepth: number;
  readonly maxStringBytes: number;
  readonly maxArrayLength: number;
  readonly maxMapLength: number;
}

export const CLIENT_FRAME_LIMITS: FrameLimits = Object.freeze({
  maxFrameBytes: 64 * 1024,
  maxDepth: 32,
  maxStringBytes: 4096,
  maxArrayLength: 256,
  maxMapLength: 64,
});

export const SERVER_FRAME_LIMITS: FrameLimits = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxDepth: 32,
  maxStringBytes: 64 * 1024,
  maxArrayLength: 10_000,
  maxMapLength: 10_000,
});

/** The limits of frames sent by `sender`. */
export function limitsOf(sender: "client" | "server"): FrameLimits {
  return sender === "server" ? SERVER_FRAME_LIMITS : CLIENT_FRAME_LIMITS;
}

export const HEARTBEAT_MS = 25_000;
export const AUTH_TIMEOUT_MS = 10_000;
export const MAX_SUBSCRIPTIONS = 100;
export const RATE_PER_SECOND = 20;
export const RATE_BURST = 40;
export const MAX_INGEST_EVENTS = 100;
export const MAX_TOPIC_LENGTH = 128;
