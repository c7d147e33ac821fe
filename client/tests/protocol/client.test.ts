import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { encodeValue, GamifClient, type ClientOptions, type ConnectionStatus, type ServerEvent, type TopicView } from "@/protocol";
import type { Subscribe } from "@/protocol/messages";
import { FakeWebSocket, T0, USER_ID, welcome } from "./helpers";

const USER_TOPIC = `user:${USER_ID}`;
const BOARD = "leaderboard:xp:weekly";

function makeClient(options: Partial<ClientOptions> = {}) {
  const tokens: boolean[] = [];
  const debug = vi.fn();
  const client = new GamifClient({
    url: "ws://hub.test/ws",
    token: (fresh) => {
      tokens.push(fresh);
      return Promise.resolve(fresh ? `fresh-token-${tokens.length}` : "first-token");
    },
    WebSocket: FakeWebSocket as unknown as typeof WebSocket,
    random: () => 0.5,
    online: null,
    debug,
    ...options,
  });
  return { client, tokens, debug };
}

/** Lets the token promise settle (and any timers due now run). */
const settle = () => vi.advanceTimersByTimeAsync(0);

async function connected(client: GamifClient): Promise<FakeWebSocket> {
  client.start();
  await settle();
  const socket = FakeWebSocket.last;
  socket.open();
  return socket;
}

async function live(client: GamifClient, heartbeatMs = 25_000): Promise<FakeWebSocket> {
  const socket = await connected(client);
  socket.push(welcome({ id: socket.sentOf("auth")[0]?.id, heartbeat_ms: heartbeatMs, server_time_ms: Date.now() }));
  return socket;
}

function record<Doc = Record<string, unknown>>(client: GamifClient, topic: string) {
  const views: TopicView<Doc>[] = [];
  const unwatch = client.watch<Doc>(topic, (view) => views.push(view));
  return { views, unwatch, last: () => views.at(-1) as TopicView<Doc> };
}

function lastSubscribe(socket: FakeWebSocket, topic: string): Subscribe {
  const found = socket.sentOf("subscribe").filter((message) => message.topic === topic);
  const last = found.at(-1);
  if (!last) throw new Error(`no subscribe to ${topic}`);
  return last;
}

function snapshot(socket: FakeWebSocket, topic: string, offset: number, doc: Record<string, unknown>, epoch = "e1") {
  socket.push({ type: "subscribed", id: lastSubscribe(socket, topic).id, topic, epoch, offset, recovered: false, snapshot: doc } as never);
}

function delta(socket: FakeWebSocket, topic: string, offset: number, ops: unknown[], epoch = "e1") {
  socket.push({ type: "delta", topic, epoch, offset, ops, at_ms: T0 } as never);
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  FakeWebSocket.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("connecting", () => {
  it("authenticates and pipelines a subscribe per watched topic before welcome, then goes live", async () => {
    const { client, tokens } = makeClient();
    const statuses: ConnectionStatus[] = [];
    client.onStatus((status) => statuses.push(status));
    record(client, USER_TOPIC);
    record(client, BOARD);
    expect(client.status.state).toBe("connecting");
    const socket = await connected(client);
    expect(socket.protocols).toEqual(["gamif.v1.msgpack"]);
    expect(socket.binaryType).toBe("arraybuffer");
    expect(tokens).toEqual([false]);
    expect(socket.sent.map((message) => message.type)).toEqual(["auth", "subscribe", "subscribe"]);
    expect(socket.sent[0]).toMatchObject({ type: "auth", token: "first-token" });
    expect(socket.sentOf("subscribe").map((message) => [message.topic, message.since])).toEqual([
      [USER_TOPIC, undefined],
      [BOARD, undefined],
    ]);
    socket.push(welcome({ id: socket.sent[0]?.id }));
    expect(client.status.state).toBe("live");
    expect(client.userId).toBe(USER_ID);
    expect(statuses.map((status) => status.state)).toEqual(["connecting", "connecting", "live"]);
  });

  it("subscribes at once to a topic watched on a live connection", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    record(client, "team:platform");
    expect(lastSubscribe(socket, "team:platform").since).toBeUndefined();
  });

  it("gives an invalid topic an error view and sends nothing for it", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    const { last } = record(client, "team:Not Valid");
    expect(last().error).toBe("invalid_message");
    expect(socket.sentOf("subscribe")).toHaveLength(0);
  });
});

describe("mirroring", () => {
  it("shows the snapshot, then each delta, as new frozen views", async () => {
    const { client } = makeClient();
    const board = record<{ ranked: number; rows: { member: string; score: number }[] }>(client, BOARD);
    const socket = await live(client);
    expect(board.last()).toMatchObject({ doc: null, fresh: false });
    snapshot(socket, BOARD, 10, { ranked: 2, rows: [{ member: "a", score: 5 }, { member: "b", score: 3 }] });
    const first = board.last();
    expect(first).toMatchObject({ epoch: "e1", offset: 10, fresh: true });
    expect(first.doc?.rows.map((row) => row.member)).toEqual(["a", "b"]);
    delta(socket, BOARD, 11, [
      ["merge", ["rows", { member: "b" }], { score: 9 }],
      ["move", ["rows"], { member: "b" }, 0],
    ]);
    const second = board.last();
    expect(second).not.toBe(first);
    expect(second.offset).toBe(11);
    expect(second.doc?.rows.map((row) => row.member)).toEqual(["b", "a"]);
    expect(first.doc?.rows.map((row) => row.member)).toEqual(["a", "b"]); // the old view is untouched
    expect(Object.isFrozen(second)).toBe(true);
    expect(Object.isFrozen(second.doc?.rows)).toBe(true);
    // a duplicate changes nothing: no new view
    const count = board.views.length;
    delta(socket, BOARD, 11, [["set", ["ranked"], 99]]);
    expect(board.views).toHaveLength(count);
  });

  it("on a gap resubscribes once with since, and is fresh again after the recovery", async () => {
    const { client } = makeClient();
    const board = record(client, BOARD);
    const socket = await live(client);
    snapshot(socket, BOARD, 10, { ranked: 1 });
    delta(socket, BOARD, 12, [["set", ["ranked"], 3]]); // 11 is missing
    expect(lastSubscribe(socket, BOARD).since).toEqual({ epoch: "e1", offset: 10 });
    expect(board.last()).toMatchObject({ fresh: false, offset: 10, doc: { ranked: 1 } });
    delta(socket, BOARD, 13, [["set", ["ranked"], 4]]); // still a gap: the resubscribe is outstanding
    expect(socket.sentOf("subscribe")).toHaveLength(2);
    socket.push({
      type: "subscribed",
      id: lastSubscribe(socket, BOARD).id,
      topic: BOARD,
      epoch: "e1",
      offset: 12,
      recovered: true,
      deltas: [
        { topic: BOARD, epoch: "e1", offset: 11, ops: [["set", ["ranked"], 2]], at_ms: T0 },
        { topic: BOARD, epoch: "e1", offset: 12, ops: [["set", ["ranked"], 3]], at_ms: T0 },
      ],
    } as never);
    expect(board.last()).toMatchObject({ fresh: true, offset: 12, doc: { ranked: 3 } });
  });

  it("on a gap by epoch resubscribes with since", async () => {
    const { client } = makeClient();
    record(client, BOARD);
    const socket = await live(client);
    snapshot(socket, BOARD, 10, { ranked: 1 });
    delta(socket, BOARD, 11, [["set", ["ranked"], 2]], "e2");
    expect(lastSubscribe(socket, BOARD).since).toEqual({ epoch: "e1", offset: 10 });
  });

  it("on a delta that does not apply keeps the document and resubscribes without since", async () => {
    const { client } = makeClient();
    const board = record(client, BOARD);
    const socket = await live(client);
    snapshot(socket, BOARD, 10, { ranked: 1 });
    const before = board.last().doc;
    delta(socket, BOARD, 11, [["set", ["missing", "x"], 1]]);
    const subscribe = lastSubscribe(socket, BOARD);
    expect(socket.sentOf("subscribe")).toHaveLength(2);
    expect(subscribe.since).toBeUndefined();
    expect(board.last().doc).toBe(before);
    expect(board.last().fresh).toBe(false);
  });

  it("applies a batch's deltas in order with one new view per topic", async () => {
    const { client } = makeClient();
    const board = record(client, BOARD);
    const socket = await live(client);
    snapshot(socket, BOARD, 1, { ranked: 1 });
    const count = board.views.length;
    socket.push({
      type: "batch",
      deltas: [
        { topic: BOARD, epoch: "e1", offset: 2, ops: [["set", ["ranked"], 2]], at_ms: T0 },
        { topic: BOARD, epoch: "e1", offset: 3, ops: [["set", ["ranked"], 3]], at_ms: T0 },
      ],
    } as never);
    expect(board.views).toHaveLength(count + 1);
    expect(board.last()).toMatchObject({ offset: 3, doc: { ranked: 3 } });
  });

  it("watch is ref-counted: one subscribe, and unsubscribe only at the last unwatch", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    const first = record(client, "team:platform");
    const second = record(client, "team:platform");
    expect(socket.sentOf("subscribe")).toHaveLength(1);
    snapshot(socket, "team:platform", 1, { name: "Platform" });
    expect(first.last()).toBe(second.last()); // the same view object for every watcher
    expect(second.views[0]).toMatchObject({ doc: null }); // each listener got the view at once
    first.unwatch();
    first.unwatch(); // idempotent: does not release the second watcher's reference
    expect(socket.sentOf("unsubscribe")).toHaveLength(0);
    second.unwatch();
    expect(socket.sentOf("unsubscribe")).toEqual([expect.objectContaining({ topic: "team:platform" })]);
  });

  it("an unsubscribed by the server: unknown_topic becomes the view's error; unavailable retries later", async () => {
    const { client } = makeClient();
    const team = record(client, "team:archived");
    const board = record(client, BOARD);
    const socket = await live(client);
    snapshot(socket, BOARD, 5, { ranked: 1 });
    socket.push({ type: "unsubscribed", topic: "team:archived", reason: "unknown_topic" } as never);
    expect(team.last()).toMatchObject({ error: "unknown_topic", fresh: false });
    socket.push({ type: "unsubscribed", topic: BOARD, reason: "unavailable" } as never);
    expect(board.last().fresh).toBe(false);
    const before = socket.sentOf("subscribe").length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(socket.sentOf("subscribe")).toHaveLength(before + 1);
    expect(lastSubscribe(socket, BOARD).since).toEqual({ epoch: "e1", offset: 5 });
  });

  it("an error reply to a subscribe becomes the view's error", async () => {
    const { client } = makeClient();
    const other = record(client, "user:0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a");
    const socket = await live(client);
    const id = socket.sentOf("subscribe")[0]?.id;
    socket.push({ type: "error", id, code: "forbidden_topic", message: "user topics are private" } as never);
    expect(other.last().error).toBe("forbidden_topic");
  });
});

describe("events", () => {
  it("passes every event of a watched topic to the listeners, unknown names too", async () => {
    const { client } = makeClient();
    record(client, USER_TOPIC);
    const socket = await live(client);
    const events: ServerEvent[] = [];
    client.onEvent((event) => events.push(event));
    socket.push({
      type: "event",
      topic: USER_TOPIC,
      name: "level_up",
      data: { level: 11, previous_level: 10, xp: 3170, rule_id: "levels", rule_version: 3, explanation: "…", notification_id: 7 },
      at_ms: T0,
    } as never);
    socket.push({ type: "event", topic: USER_TOPIC, name: "confetti_rain", data: { x: 1 }, at_ms: T0, offset: 4 } as never);
    socket.push({ type: "event", topic: "team:unwatched", name: "announcement", data: { title: "t", text: "x", severity: "info" }, at_ms: T0 } as never);
    expect(events.map((event) => event.name)).toEqual(["level_up", "confetti_rain"]);
    expect(events[0]).toMatchObject({ topic: USER_TOPIC, atMs: T0, data: { level: 11, notification_id: 7 } });
    expect(events[1]?.offset).toBe(4);
  });

  it("ignores a message type it does not know, without closing", async () => {
    const { client, debug } = makeClient();
    const socket = await live(client);
    const frame = encodeValue({ type: "novelty", x: 1 }, "msgpack");
    socket.pushRaw(frame.buffer);
    expect(debug).toHaveBeenCalledTimes(1);
    expect(socket.closedWith).toBeNull();
    expect(client.status.state).toBe("live");
  });
});

describe("reconnecting", () => {
  it("after a drop (1006) reconnects with auth and subscribe{since}, and recovers the same document", async () => {
    const { client, tokens } = makeClient();
    const board = record(client, BOARD);
    const user = record(client, USER_TOPIC);
    const socket = await live(client);
    snapshot(socket, BOARD, 41, { ranked: 3 });
    snapshot(socket, USER_TOPIC, 7, { xp: 10 });
    const doc = board.last().doc;
    socket.serverClose(1006);
    expect(client.status).toMatchObject({ state: "reconnecting", retryAtMs: T0 + 500, lastClose: { code: 1006 } });
    expect(board.last()).toMatchObject({ fresh: false, doc: { ranked: 3 } });
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    const again = FakeWebSocket.last;
    again.open();
    expect(tokens).toEqual([false]); // the token is reused
    expect(again.sent.map((message) => message.type)).toEqual(["auth", "subscribe", "subscribe"]);
    expect(again.sent[0]).toMatchObject({ token: "first-token" });
    expect(lastSubscribe(again, BOARD).since).toEqual({ epoch: "e1", offset: 41 });
    expect(lastSubscribe(again, USER_TOPIC).since).toEqual({ epoch: "e1", offset: 7 });
    again.push(welcome({ id: again.sent[0]?.id, server_time_ms: Date.now() }));
    expect(client.status.state).toBe("live");
    expect(board.last().fresh).toBe(false); // the resubscribe is outstanding
    again.push({ type: "subscribed", id: lastSubscribe(again, BOARD).id, topic: BOARD, epoch: "e1", offset: 41, recovered: true, deltas: [] } as never);
    expect(board.last()).toMatchObject({ fresh: true, offset: 41 });
    expect(board.last().doc).toBe(doc);
    expect(user.last().fresh).toBe(false);
  });

  it("after 4004 gets a fresh token before reconnecting", async () => {
    const { client, tokens } = makeClient();
    const socket = await live(client);
    socket.serverClose(4004, "token_expired");
    expect(client.status.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(500);
    expect(tokens).toEqual([false, true]);
    const again = FakeWebSocket.last;
    again.open();
    expect(again.sent[0]).toMatchObject({ type: "auth", token: "fresh-token-2" });
  });

  it("after 4001 twice in a row stops: the new token failed too", async () => {
    const { client } = makeClient();
    await connected(client);
    FakeWebSocket.last.serverClose(4001, "auth_failed");
    await vi.advanceTimersByTimeAsync(500);
    FakeWebSocket.last.open();
    FakeWebSocket.last.serverClose(4001, "auth_failed");
    expect(client.status).toMatchObject({ state: "closed", lastClose: { code: 4001 } });
    expect(client.status.fatal).toMatch(/4001/);
  });

  it.each([4000, 4003, 1000, 1003, 1008, 1009])("does not reconnect after %i", async (code) => {
    const { client } = makeClient();
    const view = record(client, BOARD);
    const socket = await live(client);
    snapshot(socket, BOARD, 1, { ranked: 1 });
    socket.serverClose(code, "no");
    expect(client.status.state).toBe("closed");
    expect(client.status.fatal).toContain(String(code));
    expect(view.last().fresh).toBe(false);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("backs off exponentially while attempts fail, and says offline after three in a row", async () => {
    const { client } = makeClient({ random: () => 0.999 });
    await connected(client);
    FakeWebSocket.last.serverClose(1006);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push((client.status.retryAtMs as number) - Date.now());
      await vi.advanceTimersByTimeAsync(client.status.retryAtMs as number - Date.now());
      FakeWebSocket.last.serverClose(1006); // the attempt fails before welcome
    }
    expect(delays).toEqual([999, 1998, 3996, 7992]);
    expect(client.status.state).toBe("offline");
  });

  it("a frame that does not decode closes with 1002 and reconnects after at least 1 s", async () => {
    const { client } = makeClient({ random: () => 0 });
    const socket = await live(client);
    socket.pushRaw(new Uint8Array([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xc1]).buffer);
    expect(socket.closedWith?.code).toBe(1002);
    expect(client.status).toMatchObject({ state: "reconnecting", lastClose: { code: 1002 }, retryAtMs: T0 + 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("close() ends the client: 1000, no reconnect, closed without fatal", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    client.close();
    expect(socket.closedWith?.code).toBe(1000);
    expect(client.status.state).toBe("closed");
    expect(client.status.fatal).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("follows the browser's offline and online events", async () => {
    let online = true;
    let notify: (online: boolean) => void = () => undefined;
    const { client } = makeClient({
      online: { isOnline: () => online, subscribe: (listener) => ((notify = listener), () => undefined) },
    });
    const socket = await live(client);
    online = false;
    notify(false);
    expect(client.status.state).toBe("offline");
    expect(socket.closedWith).not.toBeNull();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    online = true;
    notify(true);
    await settle();
    expect(FakeWebSocket.instances).toHaveLength(2);
  });
});

describe("heartbeat", () => {
  it("pings when heartbeat_ms passed since the last send, and drops the connection without a pong", async () => {
    const { client } = makeClient();
    const socket = await live(client, 25_000);
    await vi.advanceTimersByTimeAsync(24_999);
    expect(socket.sentOf("ping")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.sentOf("ping")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(40);
    socket.push({ type: "pong", id: socket.sentOf("ping")[0]?.id, server_time_ms: T0 } as never);
    expect(client.status.rttMs).toBe(40);
    // the next ping comes heartbeat_ms after the last send; unanswered, it drops the connection
    await vi.advanceTimersByTimeAsync(24_960);
    expect(socket.sentOf("ping")).toHaveLength(2);
    expect(client.status.state).toBe("live");
    await vi.advanceTimersByTimeAsync(24_999);
    expect(client.status.state).toBe("live");
    await vi.advanceTimersByTimeAsync(1);
    expect(client.status).toMatchObject({ state: "reconnecting", lastClose: { code: 1006 } });
    expect(socket.closedWith).not.toBeNull();
  });

  it("any message sent postpones the ping", async () => {
    const { client } = makeClient();
    const socket = await live(client, 25_000);
    await vi.advanceTimersByTimeAsync(20_000);
    record(client, "team:platform"); // sends a subscribe
    await vi.advanceTimersByTimeAsync(20_000);
    expect(socket.sentOf("ping")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(socket.sentOf("ping")).toHaveLength(1);
  });
});

describe("token refresh", () => {
  it("refreshes in-band at 80% of the lifetime, and reschedules on refreshed", async () => {
    const { client, tokens } = makeClient();
    const socket = await connected(client);
    // a 15-minute token: refresh at 12 minutes (80%, earlier than 60 s before expiry)
    socket.push(welcome({ id: socket.sent[0]?.id, heartbeat_ms: 10_000_000, server_time_ms: T0, expires_at_ms: T0 + 900_000 }));
    await vi.advanceTimersByTimeAsync(719_999);
    expect(socket.sentOf("refresh")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(tokens).toEqual([false, true]);
    expect(socket.sentOf("refresh")).toEqual([expect.objectContaining({ token: "fresh-token-2" })]);
    socket.push({ type: "refreshed", id: socket.sentOf("refresh")[0]?.id, expires_at_ms: Date.now() + 900_000 } as never);
    await vi.advanceTimersByTimeAsync(719_999);
    expect(socket.sentOf("refresh")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.sentOf("refresh")).toHaveLength(2);
  });

  it("measures the lifetime on the server's clock", async () => {
    const { client } = makeClient();
    const socket = await connected(client);
    // the server's clock is 10 minutes ahead: the token has 5 minutes left, so refresh at 4 minutes
    socket.push(
      welcome({ id: socket.sent[0]?.id, heartbeat_ms: 10_000_000, server_time_ms: T0 + 600_000, expires_at_ms: T0 + 900_000 }),
    );
    await vi.advanceTimersByTimeAsync(239_999);
    expect(socket.sentOf("refresh")).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.sentOf("refresh")).toHaveLength(1);
  });

  it("after a refused refresh tries again later, keeping the session", async () => {
    const { client } = makeClient();
    const socket = await connected(client);
    socket.push(welcome({ id: socket.sent[0]?.id, heartbeat_ms: 10_000_000, server_time_ms: T0, expires_at_ms: T0 + 900_000 }));
    await vi.advanceTimersByTimeAsync(720_000);
    socket.push({ type: "error", id: socket.sentOf("refresh")[0]?.id, code: "auth_failed", message: "no" } as never);
    expect(client.status.state).toBe("live");
    // 180 s left: the schedule of §18 again (60 s before expiry), at least REFRESH_RETRY_MS away
    await vi.advanceTimersByTimeAsync(119_999);
    expect(socket.sentOf("refresh")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(socket.sentOf("refresh")).toHaveLength(2);
  });
});

describe("ingest", () => {
  const event = { id: "ide-42", metric: "focus_minutes", value: 42.5, occurred_at_ms: T0 };

  it("resolves with the ingested reply", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    const reply = client.ingest([event]);
    const sent = socket.sentOf("ingest")[0];
    expect(sent?.events).toEqual([event]);
    socket.push({
      type: "ingested",
      id: sent?.id,
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      rule_version: 3,
      events: [{ id: "ide-42", status: "accepted" }],
    } as never);
    await expect(reply).resolves.toEqual({ accepted: 1, duplicates: 0, rejected: 0, rule_version: 3, events: [{ id: "ide-42", status: "accepted" }] });
  });

  it("rejects with the error's code", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    const reply = client.ingest([event]);
    socket.push({ type: "error", id: socket.sentOf("ingest")[0]?.id, code: "unsupported", message: "no ingest here" } as never);
    await expect(reply).rejects.toMatchObject({ code: "unsupported" });
  });

  it("rejects at once when not live, and for invalid events", async () => {
    const { client } = makeClient();
    await expect(client.ingest([event])).rejects.toMatchObject({ code: "not_connected" });
    await live(client);
    await expect(client.ingest([])).rejects.toMatchObject({ code: "invalid_message", field: "events" });
  });

  it("rejects with connection_lost when the connection drops before the reply", async () => {
    const { client } = makeClient();
    const socket = await live(client);
    const reply = client.ingest([event]);
    socket.serverClose(1006);
    await expect(reply).rejects.toMatchObject({ code: "connection_lost" });
  });
});
