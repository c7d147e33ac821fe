"""The fan-out benchmark (load_tests/fanout): the load client's counting and checking, without a network;
then end to end with tiny numbers: real server processes, real load-client processes, every message
checked at every client."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

import msgpack
import pytest

from load_tests.fanout import hub_wire
from load_tests.fanout.cli import main
from load_tests.fanout.commands import ConnectSpec
from load_tests.fanout.run import BenchOptions, run_benchmark
from load_tests.fanout.subscriber import Subscriber, Tally
from protocol import Batch, Delta, Encoding, Event, encode

HUB_ENDPOINT = Path(__file__).resolve().parents[2] / "server" / "hub" / "endpoint.py"
# No waiting for a quiet machine: the smoke tests check deliveries, not rates.
TINY = shlex.split("--subscribers 20 --messages 20 --warmup 2 --idle 50 --procs 2 --quiet-wait 0")
TOPIC = "team:bench"
EPOCH = "abcdefghijkl"

# ------------------------------------------------------------------------------- the subscriber alone


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True

    close = abort

    def get_extra_info(self, name: str) -> Any:
        return None


def server_frame(payload: bytes, first: int = 0x82) -> bytes:
    size = len(payload)
    head = bytes((first, size)) if size < 126 else bytes((first, 126)) + size.to_bytes(2, "big")
    return head + payload


def upgraded(spec: ConnectSpec) -> tuple[Subscriber, FakeTransport, Tally]:
    """A subscriber whose handshake the fake server accepted."""
    tally = Tally()
    subscriber = Subscriber(spec, tally, asyncio.get_running_loop().create_future())
    transport = FakeTransport()
    subscriber.connection_made(transport)  # type: ignore[arg-type]
    request = transport.written[0].decode()
    key = next(line.split(": ")[1] for line in request.split("\r\n") if line.startswith("Sec-WebSocket-Key"))
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: gamif.v1.msgpack\r\n\r\n"
    )
    subscriber.data_received(response)
    return subscriber, transport, tally


def feed_bytewise(subscriber: Subscriber, data: bytes) -> None:
    for i in range(len(data)):
        subscriber.data_received(data[i : i + 1])


def delta_frame(offset: int) -> bytes:
    wire = {"topic": TOPIC, "epoch": EPOCH, "offset": offset, "ops": [["set", ["n"], offset]], "at_ms": 1}
    return encode(Delta.model_validate(wire), Encoding.MSGPACK)


def batch_frame(offsets: range) -> bytes:
    deltas = [Delta.model_validate(msgpack.unpackb(delta_frame(offset))) for offset in offsets]
    return encode(Batch(deltas=deltas), Encoding.MSGPACK)


async def test_counts_every_frame_however_the_reads_cut_them():
    subscriber, _, tally = upgraded(ConnectSpec("127.0.0.1", 1, "/ws", "gamif.v1.msgpack"))
    assert subscriber.ready.done()
    subscriber.arm()
    tally.arm(3)
    big = bytes(300)  # a 16-bit length
    feed_bytewise(subscriber, server_frame(bytes(85)) + server_frame(big) + server_frame(b"x"))
    assert (tally.deliveries, tally.frames, tally.payload_bytes) == (3, 3, 85 + 300 + 1)
    assert tally.done.is_set()
    assert subscriber.verify(3) is None
    subscriber.arm()
    assert subscriber.verify(1) == "received 0 of 1"


async def test_answers_pings_and_records_a_close():
    subscriber, transport, _ = upgraded(ConnectSpec("127.0.0.1", 1, "/ws", "gamif.v1.msgpack"))
    subscriber.data_received(server_frame(b"hi", first=0x89))
    pong = transport.written[-1]
    assert pong[0] == 0x8A
    assert pong[1] == 0x80 | 2  # masked, 2 bytes
    subscriber.data_received(server_frame((1001).to_bytes(2, "big") + b"bye", first=0x88))
    assert transport.closed
    assert subscriber.closed == "closed by the server: 1001 bye"


@pytest.mark.parametrize("strict", [False, True])
async def test_checks_that_the_hub_deltas_continue_the_subscription(strict):
    hello = hub_wire.hello_frames("token", TOPIC)
    spec = ConnectSpec(
        "127.0.0.1", 1, "/ws", "gamif.v1.msgpack", hub=True, hello=hello, topic=TOPIC, strict=strict
    )
    subscriber, transport, tally = upgraded(spec)
    assert len(transport.written) == 3  # the handshake, then auth and subscribe
    welcome = {"type": "welcome", "id": 1, "heartbeat_ms": 25_000}
    subscribed = {
        "type": "subscribed",
        "id": 2,
        "topic": TOPIC,
        "epoch": EPOCH,
        "offset": 5,
        "recovered": False,
    }
    subscriber.data_received(server_frame(msgpack.packb(welcome)) + server_frame(msgpack.packb(subscribed)))
    assert subscriber.ready.done()
    assert subscriber.heartbeat == 25.0

    subscriber.arm()
    tally.arm(4)
    feed_bytewise(subscriber, server_frame(batch_frame(range(6, 9))) + server_frame(delta_frame(9)))
    assert (tally.deliveries, tally.frames) == (4, 2)
    assert subscriber.verify(4) is None

    subscriber.arm()
    tally.arm(2)
    subscriber.data_received(server_frame(delta_frame(11)) + server_frame(delta_frame(12)))  # 10 is missing
    problem = subscriber.verify(2)
    assert problem is not None
    assert "expected" in problem
    assert "10" in problem


@pytest.mark.parametrize("count", [1, 2, 15, 16, 300])
def test_counts_the_deltas_of_canonical_frames_from_their_bytes(count):
    frame = delta_frame(1) if count == 1 else batch_frame(range(1, count + 1))
    assert hub_wire.fast_delta_count(frame, 0, len(frame)) == count
    framed = b"xx" + frame + b"yy"  # within a larger read, as the client sees it
    assert hub_wire.fast_delta_count(framed, 2, 2 + len(frame)) == count


def test_leaves_other_messages_to_the_decoder():
    event = Event.model_validate(
        {
            "topic": TOPIC,
            "name": "announcement",
            "data": {"title": "Docs week", "text": "x", "severity": "info"},
            "at_ms": 1,
            "offset": 3,
        }
    )
    frame = encode(event, Encoding.MSGPACK)
    assert hub_wire.fast_delta_count(frame, 0, len(frame)) == -1


# ------------------------------------------------------------------------------------------ end to end


def test_baselines_deliver_every_message_and_write_the_json(tmp_path, capsys):
    result_file = tmp_path / "fanout.json"
    argv = ["--targets", "starlette,websockets", *TINY, "--json", str(result_file), "--out", str(tmp_path)]
    assert main(argv) == 0

    document = json.loads(result_file.read_text(encoding="utf-8"))
    # ... and the kit's result, with its report.
    (saved,) = tmp_path.glob("hub-vs-baselines-*.json")
    kit = json.loads(saved.read_text())
    assert kit["scenario"] == "hub-vs-baselines"
    assert kit["summary"]["counters"] == {"errors": 0, "missed": 0}
    assert saved.with_suffix(".html").is_file()
    assert document["benchmark"] == "fanout"
    assert document["options"]["payload_bytes"] > 0
    for name in ("starlette", "websockets"):
        target = document["targets"][name]
        assert target["status"] == "ok", target["reason"]
        [run] = target["fanout"]
        assert run["subscribers"] == 20
        assert run["deliveries"] == run["expected_deliveries"] == 20 * 20
        assert run["frames"] == 20 * 20
        assert run["complete_connections"] == 20
        assert run["complete"] is True
        assert run["payload_bytes"] == 20 * 20 * document["options"]["payload_bytes"]
        for field in ("deliveries_per_s", "frames_per_s", "payload_kib_per_s", "elapsed_s"):
            assert run[field] > 0
        assert len(run["client_cpu_percent"]) == 2
        memory = target["memory"]
        assert memory["connections"] == 50
        assert memory["rss_after_kib"] > 0
        assert "kib_per_connection" in memory
    assert document["comparisons"]["websockets/starlette"]["frames_per_s"].keys() == {"20"}
    assert document["comparisons"]["hub/starlette"] is None
    printed = capsys.readouterr().out
    assert "frames/s" in printed
    assert "KiB/conn" in printed


def test_lockstep_publishing_sends_each_message_once_the_previous_arrived():
    options = BenchOptions(
        targets=("starlette",),
        subscribers=(20,),
        messages=10,
        warmup=0,
        idle=20,
        procs=2,
        pace="lockstep",
        quiet_wait=0,
    )
    outcome = run_benchmark(options, say=lambda _: None)

    assert outcome.ok
    [run] = outcome.results["starlette"].fanout
    assert run.complete
    assert run.deliveries == run.frames == 20 * 10


@pytest.mark.skipif(
    not HUB_ENDPOINT.exists(), reason="the hub's /ws endpoint (server/hub/endpoint.py) is not there yet"
)
@pytest.mark.parametrize("strict", [False, True], ids=["ends-checked", "every-offset-checked"])
def test_the_hub_delivers_every_delta_in_order(request, strict):
    redis_url = request.getfixturevalue("redis_server")
    options = BenchOptions(
        targets=("hub",),
        subscribers=(20, 40),
        messages=20,
        warmup=2,
        idle=50,
        procs=2,
        strict=strict,
        quiet_wait=0,
        redis_url=redis_url,
    )
    outcome = run_benchmark(options, say=lambda _: None)

    hub = outcome.results["hub"]
    assert hub.status == "ok", hub.reason
    assert [run.subscribers for run in hub.fanout] == [20, 40]
    for run in hub.fanout:
        assert run.complete, run.problems
        assert run.deliveries == run.subscribers * 20
        assert 0 < run.frames <= run.deliveries  # the hub may coalesce deltas into batches
    assert hub.memory is not None
    assert hub.memory.connections == 50
    json.dumps(outcome.document)  # JSON-ready


def test_the_cost_of_metrics_compares_the_hub_with_metrics_on_and_off(request, tmp_path):
    """`--targets hub,hub-metrics-off`: the same hub with GAMIF_METRICS on (scraped) and off, one run,
    the ratio in the comparisons and the kit result saved as metrics-cost-*.json."""
    redis_url = request.getfixturevalue("redis_server")
    argv = [
        "--targets",
        "hub,hub-metrics-off",
        *TINY,
        "--scrape-every",
        "0.2",
        "--redis-url",
        redis_url,
        "--json",
        str(tmp_path / "raw.json"),
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    document = json.loads((tmp_path / "raw.json").read_text(encoding="utf-8"))
    assert "GAMIF_METRICS=0" in document["targets"]["hub-metrics-off"]["description"]
    assert "scraped every 0.2 s" in document["targets"]["hub"]["description"]
    cost = document["comparisons"]["hub metrics on/off"]
    assert set(cost["deliveries_per_s"]) == {"20"}
    assert cost["deliveries_per_s"]["20"] > 0
    assert cost["deliveries_target"] == 0.95
    (saved,) = tmp_path.glob("metrics-cost-*.json")
    kit = json.loads(saved.read_text(encoding="utf-8"))
    assert kit["title"].startswith("The cost of metrics")
    assert any(note.startswith("hub metrics on/off: deliveries/s") for note in kit["notes"])
