"""Hypothesis strategies for protocol values, ops and every message type."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocol import (
    MAX_SAFE_INTEGER,
    MAX_TIME_MS,
    Auth,
    Batch,
    Delta,
    Error,
    Event,
    Ingest,
    Ingested,
    IngestEvent,
    IngestStatus,
    Limits,
    MergeOp,
    Message,
    MoveOp,
    Op,
    OpFormatError,
    Ping,
    Pong,
    Refresh,
    Refreshed,
    RemoveOp,
    Selector,
    SetOp,
    Since,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    check_ops,
)

ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)
slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{1,63}", fullmatch=True)
tokens = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
codes = st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
times = st.integers(0, MAX_SAFE_INTEGER)
offsets = st.integers(1, MAX_SAFE_INTEGER)
message_ids = st.none() | st.integers(0, MAX_SAFE_INTEGER) | tokens
short_text = st.text(max_size=40)

topics = st.one_of(
    ids.map(lambda i: f"user:{i}"),
    st.tuples(ids, st.sampled_from(["daily", "weekly", "monthly", "all_time"])).map(
        lambda t: f"leaderboard:{t[0]}:{t[1]}"
    ),
    slugs.map(lambda s: f"team:{s}"),
    st.just("presence:global"),
    st.just("activity:global"),
    slugs.map(lambda s: f"presence:team:{s}"),
    ids.map(lambda i: f"challenge:{i}"),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.floats(allow_nan=False, allow_infinity=False),
    short_text,
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(short_text, children, max_size=5),
    max_leaves=20,
)
documents = st.dictionaries(short_text, json_values, max_size=6)

key_values = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | short_text
selectors = st.builds(Selector, short_text, key_values)
paths = st.lists(short_text | selectors, max_size=4).map(tuple)
nonempty_paths = st.lists(short_text | selectors, min_size=1, max_size=4).map(tuple)
ops: st.SearchStrategy[Op] = st.one_of(
    st.builds(SetOp, nonempty_paths, json_values),
    st.builds(SetOp, st.just(()), documents),
    st.builds(MergeOp, paths, documents),
    st.builds(RemoveOp, nonempty_paths),
    st.builds(MoveOp, nonempty_paths, selectors, st.integers(0, 1000)),
)


def _well_formed(candidate: list[Op]) -> bool:
    try:
        check_ops(candidate)
    except OpFormatError:
        return False
    return True


op_lists = st.lists(ops, max_size=4).filter(_well_formed).map(tuple)


def deltas(
    topic: st.SearchStrategy[str] = topics, epoch: st.SearchStrategy[str] = tokens
) -> st.SearchStrategy[Delta]:
    return st.builds(Delta, topic=topic, epoch=epoch, offset=offsets, ops=op_lists, at_ms=times)


@st.composite
def recovered(draw: st.DrawFn) -> Subscribed:
    topic, epoch = draw(topics), draw(tokens)
    start = draw(st.integers(0, 10**9))
    count = draw(st.integers(0, 4))
    ds = tuple(
        Delta(topic=topic, epoch=epoch, offset=start + i + 1, ops=draw(op_lists), at_ms=draw(times))
        for i in range(count)
    )
    return Subscribed(
        id=draw(message_ids),
        topic=topic,
        epoch=epoch,
        offset=start + count,
        recovered=True,
        deltas=ds,
    )


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    items = draw(st.lists(deltas(), min_size=1, max_size=5))
    seen: dict[str, int] = {}
    ordered = []
    for item in items:  # make each topic's offsets increase (and stay within the safe integers)
        offset = max(item.offset, seen.get(item.topic, 0) + 1)
        if offset > MAX_SAFE_INTEGER:
            continue  # the topic already reached the largest offset: a later delta cannot exist
        seen[item.topic] = offset
        ordered.append(item.model_copy(update={"offset": offset}))
    return Batch(deltas=tuple(ordered))


explained = {"rule_id": short_text, "rule_version": st.integers(0, 100), "explanation": short_text}
event_payloads = st.one_of(
    st.tuples(
        st.just("level_up"),
        st.fixed_dictionaries(
            {"level": st.integers(1, 100), "previous_level": st.integers(1, 100), "xp": times, **explained}
        ),
    ),
    st.tuples(
        st.just("xp_awarded"),
        st.fixed_dictionaries({"amount": st.integers(-1000, 1000), "xp": times, **explained}),
    ),
    st.tuples(
        st.just("announcement"),
        st.fixed_dictionaries(
            {
                "title": short_text,
                "text": short_text,
                "severity": st.sampled_from(["info", "warning", "critical"]),
            }
        ),
    ),
    st.tuples(
        codes.filter(
            lambda c: (
                c
                not in {
                    "level_up",
                    "xp_awarded",
                    "announcement",
                    "badge_earned",
                    "mission_completed",
                    "streak_extended",
                    "streak_broken",
                }
            )
        ),
        documents,
    ),
)

limits = st.builds(
    Limits,
    **{name: st.integers(1, MAX_SAFE_INTEGER) for name in Limits.model_fields},
)


def _has_nul(value: Any) -> bool:
    """Ingested text may not hold NUL (PROTOCOL.md, ``ingest``)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


nul_free_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20
)
ingest_events = st.builds(
    IngestEvent,
    id=nul_free_text,
    user=st.none() | st.from_regex(r"[a-z0-9][a-z0-9_.-]{1,20}", fullmatch=True),
    metric=nul_free_text,
    value=st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False),
    occurred_at_ms=st.integers(0, MAX_TIME_MS),
    metadata=st.none()
    | st.dictionaries(short_text, json_values, max_size=4).filter(lambda m: not _has_nul(m)),
)

MESSAGES: dict[str, st.SearchStrategy[Message]] = {
    "auth": st.builds(Auth, id=message_ids, token=st.text(min_size=1, max_size=200)),
    "subscribe": st.builds(
        Subscribe,
        id=message_ids,
        topic=topics,
        since=st.none() | st.builds(Since, epoch=tokens, offset=times),
    ),
    "unsubscribe": st.builds(Unsubscribe, id=message_ids, topic=topics),
    "ping": st.builds(Ping, id=message_ids),
    "refresh": st.builds(Refresh, id=message_ids, token=st.text(min_size=1, max_size=200)),
    "ingest": st.builds(
        Ingest, id=message_ids, events=st.lists(ingest_events, min_size=1, max_size=3).map(tuple)
    ),
    "welcome": st.builds(
        Welcome,
        id=message_ids,
        session_id=tokens,
        user_id=ids,
        heartbeat_ms=offsets,
        server_time_ms=times,
        expires_at_ms=times,
        limits=limits,
    ),
    "subscribed": st.one_of(
        st.builds(
            Subscribed,
            id=message_ids,
            topic=topics,
            epoch=tokens,
            offset=times,
            recovered=st.just(False),
            snapshot=documents,
        ),
        recovered(),
    ),
    "delta": deltas(),
    "batch": batches(),
    "event": st.builds(
        lambda topic, payload, at, offset: Event(
            topic=topic, name=payload[0], data=payload[1], at_ms=at, offset=offset
        ),
        topics,
        event_payloads,
        times,
        st.none() | offsets,
    ),
    "unsubscribed": st.builds(Unsubscribed, id=message_ids, topic=topics, reason=st.none() | codes),
    "pong": st.builds(Pong, id=message_ids, server_time_ms=times),
    "refreshed": st.builds(Refreshed, id=message_ids, expires_at_ms=times),
    "ingested": st.builds(
        Ingested,
        id=message_ids,
        accepted=times,
        duplicates=times,
        rejected=times,
        rule_version=times,
        events=st.lists(
            st.builds(
                IngestStatus,
                id=st.text(min_size=1, max_size=20),
                status=st.sampled_from(["accepted", "duplicate", "rejected"]),
                code=st.none() | codes,
                reason=st.none() | st.text(max_size=40),
                field=st.none() | st.sampled_from(["id", "user", "metric", "value", "occurred_at_ms"]),
            ),
            max_size=3,
        ).map(tuple),
    ),
    "error": st.builds(
        Error,
        id=message_ids,
        code=codes,
        message=st.text(max_size=100),
        field=st.none() | st.text(max_size=30),
        topic=st.none() | topics,
        retry_after_ms=st.none() | times,
        ref_id=st.none() | tokens,
    ),
}


# ------------------------------------------------------------- a small leaderboard-like document


def sel(member: str) -> Selector:
    return Selector("member", member)


MEMBERS = st.sampled_from(["a", "b", "c", "d", "e"])
KEYS = st.sampled_from(["x", "y", "z"])
SMALL = (
    st.integers(0, 3)
    | st.dictionaries(KEYS, st.integers(0, 3), max_size=2)
    | st.lists(st.integers(0, 3), max_size=2)
)


@st.composite
def boards(draw: st.DrawFn) -> dict[str, Any]:
    members = draw(st.lists(MEMBERS, unique=True, max_size=5))
    return {
        "rows": [{"member": m, "score": draw(st.integers(0, 3))} for m in members],
        "meta": draw(st.dictionaries(KEYS, SMALL, max_size=3)),
        "n": draw(st.integers(0, 3)),
    }


map_paths = (
    st.sampled_from([("n",), ("meta",), ("q",), ("q", "r")])
    | st.tuples(st.just("meta"), KEYS)
    | st.tuples(st.just("meta"), KEYS, KEYS)
)
row_paths = MEMBERS.map(lambda m: ("rows", sel(m))) | st.tuples(
    st.just("rows"), MEMBERS.map(sel), KEYS | st.just("score")
)


@st.composite
def board_ops(draw: st.DrawFn) -> Op:
    kind = draw(st.sampled_from(["set", "set_row", "merge", "merge_row", "remove", "move"]))
    if kind == "set":
        return SetOp(draw(map_paths | row_paths.filter(lambda p: len(p) == 3)), draw(SMALL))
    if kind == "set_row":
        member = draw(MEMBERS)
        key = member if draw(st.integers(0, 9)) else draw(MEMBERS)  # now and then the wrong key
        return SetOp(("rows", sel(member)), {"member": key, "score": draw(st.integers(0, 3))})
    if kind == "merge":
        return MergeOp(draw(map_paths | st.just(())), draw(st.dictionaries(KEYS, SMALL, max_size=2)))
    if kind == "merge_row":
        return MergeOp(
            draw(row_paths.filter(lambda p: len(p) == 2)),
            draw(st.dictionaries(KEYS | st.just("score"), SMALL, max_size=2)),
        )
    if kind == "remove":
        return RemoveOp(draw(map_paths | row_paths))
    return MoveOp(("rows",), sel(draw(MEMBERS)), draw(st.integers(0, 5)))
