// The protocol client's public API: no React here (the UI binds it through src/stores).

// The client the UI uses.
export * from "./documents";
export { GamifClient, RequestError, TokenUnavailableError } from "./client";
export type {
  ClientOptions,
  ConnectionState,
  ConnectionStatus,
  IngestEvent,
  IngestedReply,
  OnlineSource,
  ServerEvent,
  Timers,
  TopicView,
} from "./client";

// Topics.
export {
  activityTopic,
  challengeTopic,
  isTopic,
  leaderboardTopic,
  parseTopic,
  PERIODS,
  presenceTopic,
  teamTopic,
  TOPIC_REGEX,
  userTopic,
} from "./topics";
export type { Period, Topic, TopicKind } from "./topics";

// Frames and messages.
export { canonical, decodeFrame, decodeValue, encodeMessage, encodeValue, SUBPROTOCOLS } from "./codec";
export type { DecodeOptions, Encoding, Frame } from "./codec";
export { ERRORS, ErrorCode, isErrorCode, ProtocolError } from "./errors";
export {
  CLIENT_FRAME_LIMITS,
  HEARTBEAT_MS,
  MAX_INGEST_EVENTS,
  MAX_SUBSCRIPTIONS,
  SERVER_FRAME_LIMITS,
  type FrameLimits,
} from "./limits";
export { CLIENT_MESSAGE_TYPES, EVENT_DATA, fromWire, senderOf, SERVER_MESSAGE_TYPES } from "./messages";
export type {
  Auth,
  Batch,
  ClientMessage,
  Delta,
  DeltaBody,
  ErrorMessage,
  EventMessage,
  Ingest,
  Ingested,
  IngestStatus,
  Message,
  MessageId,
  MessageType,
  Ping,
  Pong,
  Refresh,
  Refreshed,
  ServerMessage,
  SessionLimits,
  Side,
  Since,
  Subscribe,
  Subscribed,
  Unsubscribe,
  Unsubscribed,
  Welcome,
} from "./messages";

// Mirroring: ops and the mirror of one topic.
export { applyOps, checkOps, OpError, OpFormatError, parseOp } from "./ops";
export type { Document, MergeOp, MoveOp, Op, Path, PathSegment, RemoveOp, Selector, SetOp } from "./ops";
export { Outcome, TopicMirror } from "./mirror";

// Reconnecting and timing (pure).
export { CLOSE_CODES, closeInfo, reconnectDelayMs, Reconnects, type CloseInfo, type ReconnectPlan } from "./backoff";
export { Heartbeat, refreshDelayMs, TokenBucket } from "./timing";
export type { Value, ValueMap } from "./values";
