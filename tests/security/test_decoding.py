"""Hostile bytes that once escaped ``codec.decode`` (no broker needed).

Deeply nested JSON made ``json.loads`` raise RecursionError, which is not a DecodeError: the
request loop logged it and sent neither a reply nor a dead letter, and the plays loop
rewound and retried the batch holding it for ever, so one 10 KB message stopped every
play on its partition.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from bluetrack.core.validation import TimeRules
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.messages import ServerKey
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.protocol.registry import EXCHANGES
from bluetrack.protocol.topics import Topic
from bluetrack.server.plays import PlayVerifier
from bluetrack.server.service import ServerService
from bluetrack.server.testing import as_messages, server_under_test

# Well under the 16 KiB request limit, far over Python's recursion limit.
NESTED = [b"[" * 7000 + b"]" * 7000, b'{"a":' * 2000 + b"1" + b"}" * 2000]
MODELS: list[type[BaseModel]] = [
    *(e.request_model for e in EXCHANGES),
    *(e.reply_model for e in EXCHANGES),
    PlayEvent,
    AcceptedPlay,
    ChartMessage,
    ServerKey,
    DeadLetter,
]


@pytest.mark.parametrize("raw", NESTED, ids=["arrays", "objects"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_deep_nesting_is_a_decode_error(raw: bytes, model: type[BaseModel]) -> None:
    with pytest.raises(DecodeError) as refused:
        codec.decode(raw, model)
    assert refused.value.code is ErrorCode.INVALID_MESSAGE
    assert "nested too deeply" in str(refused.value)


@pytest.mark.parametrize("raw", NESTED, ids=["arrays", "objects"])
def test_the_request_service_dead_letters_deep_nesting_on_every_topic(raw: bytes) -> None:
    service = ServerService(server_under_test().ctx)
    for exchange in EXCHANGES:
        [letter] = service.handle(str(exchange.request_topic), b"key", raw, partition=0, offset=7)
        assert letter.topic == Topic.DEAD_LETTER
        decoded = codec.decode(letter.value, DeadLetter)
        assert decoded.code is ErrorCode.INVALID_MESSAGE
        assert decoded.source_topic == exchange.request_topic and decoded.offset == 7


def test_a_deeply_nested_play_is_refused_without_failing_its_batch() -> None:
    sut = server_under_test()
    verifier = PlayVerifier(
        sut.ctx.session_cache,
        sut.songs.track_index(),
        TimeRules.of(sut.ctx.settings.clock_skew_s, sut.ctx.settings.max_event_age_s),
        now=sut.clock.now,
    )
    batch = verifier.verify_batch(as_messages(NESTED))
    assert batch.rejected == len(NESTED) and batch.accepted == 0
    letters = [codec.decode(out.value, DeadLetter) for out in batch.outgoing]
    assert [letter.code for letter in letters] == [ErrorCode.INVALID_MESSAGE] * len(NESTED)
