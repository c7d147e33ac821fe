// Error codes and ProtocolError (PROTOCOL.md §16). A condition is reported either as an `error` message
// (the connection goes on) or by closing the connection; `ERRORS` says which, and with what close code.

export const ErrorCode = {
  // frames: always fatal, the frame cannot be read safely
  BAD_FRAME: "bad_frame",
  WRONG_FRAME_TYPE: "wrong_frame_type",
  TOO_LARGE: "too_large",
  TOO_DEEP: "too_deep",
  // messages
  UNKNOWN_TYPE: "unknown_type",
  INVALID_MESSAGE: "invalid_message",
  // session
  NOT_AUTHENTICATED: "not_authenticated",
  ALREADY_AUTHENTICATED: "already_authenticated",
  AUTH_FAILED: "auth_failed",
  AUTH_TIMEOUT: "auth_timeout",
  TOKEN_EXPIRED: "token_expired",
  FORBIDDEN: "forbidden",
  HEARTBEAT_TIMEOUT: "heartbeat_timeout",
  RATE_LIMITED: "rate_limited",
  SLOW_CONSUMER: "slow_consumer",
  // topics
  FORBIDDEN_TOPIC: "forbidden_topic",
  UNKNOWN_TOPIC: "unknown_topic",
  TOO_MANY_SUBSCRIPTIONS: "too_many_subscriptions",
  // server side
  UNSUPPORTED: "unsupported",
  UNAVAILABLE: "unavailable",
  INTERNAL_ERROR: "internal_error",
} as const;

/** A code of the v1 table. A server may send codes not listed here: a client treats them as failures. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type SentAs = "error" | "close" | "both";

export interface ErrorInfo {
  sentAs: SentAs;
  /** The close code, when the condition closes the connection ("close" or "both"). */
  closeCode: number | null;
}

export const ERRORS: Readonly<Record<ErrorCode, ErrorInfo>> = {
  bad_frame: { sentAs: "close", closeCode: 4000 },
  wrong_frame_type: { sentAs: "close", closeCode: 1003 },
  too_large: { sentAs: "close", closeCode: 1009 },
  too_deep: { sentAs: "close", closeCode: 4000 },
  unknown_type: { sentAs: "error", closeCode: null },
  invalid_message: { sentAs: "error", closeCode: null },
  not_authenticated: { sentAs: "close", closeCode: 4000 },
  already_authenticated: { sentAs: "error", closeCode: null },
  auth_failed: { sentAs: "both", closeCode: 4001 },
  auth_timeout: { sentAs: "close", closeCode: 4002 },
  token_expired: { sentAs: "both", closeCode: 4004 },
  forbidden: { sentAs: "close", closeCode: 4003 },
  heartbeat_timeout: { sentAs: "close", closeCode: 4002 },
  rate_limited: { sentAs: "both", closeCode: 4029 },
  slow_consumer: { sentAs: "close", closeCode: 4008 },
  forbidden_topic: { sentAs: "error", closeCode: null },
  unknown_topic: { sentAs: "error", closeCode: null },
  too_many_subscriptions: { sentAs: "error", closeCode: null },
  unsupported: { sentAs: "error", closeCode: null },
  unavailable: { sentAs: "error", closeCode: null },
  internal_error: { sentAs: "both", closeCode: 1011 },
};

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, code);
}

/** A frame or message that breaks the protocol: its code, and the offending field's dotted path
 * (`since.offset`, `ops.0.1.1`) for `invalid_message`. `messageId`/`messageType` are the message's own
 * when they could be read, so that a non-fatal error can be matched to a request. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly messageId: number | string | undefined;
  readonly messageType: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    field?: string,
    context: { messageId?: number | string; messageType?: string } = {},
  ) {
    super(`${code}: ${message}${field !== undefined ? ` (field ${field})` : ""}`);
    this.code = code;
    this.field = field;
    this.messageId = context.messageId;
    this.messageType = context.messageType;
  }

  /** Whether the condition ends the connection (every frame-level error does). */
  get fatal(): boolean {
    return ERRORS[this.code].sentAs === "close";
  }

  /** The close code to close with, when `fatal`. */
  get closeCode(): number | null {
    const info = ERRORS[this.code];
    return info.sentAs === "close" ? info.closeCode : null;
  }
}
