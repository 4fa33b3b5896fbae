"""Request dispatch with no broker: bytes in, records out.

``ServerService.handle(topic, key, value)`` decodes with the protocol codec, finds the
handler in the REGISTRY, and returns every record to send: the reply (keyed by client id on
the paired reply topic), a dead letter when the input was refused, anything else the handler
caused. It never raises on input: errors leave as data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bluetrack.bus.dead_letter import dead_letter_for
from bluetrack.protocol.codec import decode, encode
from bluetrack.protocol.envelope import Reply, Request
from bluetrack.protocol.errors import ErrorCode, ErrorInfo
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.registry import BY_REQUEST_TOPIC, Exchange, error_reply
from bluetrack.protocol.topics import Topic
from bluetrack.server.context import ServerContext
from bluetrack.server.exceptions import STORE_DOWN, Rejected
from bluetrack.server.handlers import REGISTRY, Handler
from bluetrack.server.outcome import Outcome, Outgoing

log = logging.getLogger(__name__)

COMPONENT = "server"
_EXCHANGES: dict[str, Exchange] = {str(t): e for t, e in BY_REQUEST_TOPIC.items()}
_INTERNAL = "the server could not handle this request; please try again"
_UNAVAILABLE = "the server cannot reach its database right now; please try again shortly"


class ServerService:
    def __init__(self, ctx: ServerContext, registry: Mapping[Topic, Handler] = REGISTRY) -> None:
        self.ctx = ctx
        self._registry = registry

    def handle(
        self,
        topic: str,
        key: bytes | str | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        offset: int | None = None,
    ) -> list[Outgoing]:
        where = {"partition": partition, "offset": offset, "key": key}
        exchange = _EXCHANGES.get(topic)
        if exchange is None:
            return [
                _dead_letter(topic, value, ErrorCode.UNKNOWN_TYPE, "not a request topic", where)
            ]
        try:
            request = decode(value, exchange.request_model)
        except DecodeError as exc:
            return self._undecodable(exchange, value, exc, where)
        try:
            outcome = self._run(exchange, request)
        except Rejected as exc:
            out = [
                _reply(
                    exchange,
                    error_reply(exchange, request.request_id, request.client_id, exc.info()),
                )
            ]
            if exc.dead_letter:
                out.append(_dead_letter(topic, value, exc.code, str(exc), where))
            return out
        except STORE_DOWN as exc:
            log.warning("store unavailable while handling %s: %s", topic, exc)
            info = ErrorInfo(code=ErrorCode.UNAVAILABLE, message=_UNAVAILABLE, retry_after_s=5.0)
            return [
                _reply(exchange, error_reply(exchange, request.request_id, request.client_id, info))
            ]
        except Exception:
            # One request's bug must not take the consumer down, nor leak a trace to the client.
            log.exception("handler for %s failed (request %s)", topic, request.request_id)
            info = ErrorInfo(code=ErrorCode.INTERNAL_ERROR, message=_INTERNAL)
            return [
                _reply(exchange, error_reply(exchange, request.request_id, request.client_id, info))
            ]
        value = outcome.encoded or encode(outcome.reply)
        return [Outgoing(exchange.reply_topic, outcome.reply.client_id, value), *outcome.also]

    def _run(self, exchange: Exchange, request: Request) -> Outcome:
        result = self._registry[exchange.request_topic](self.ctx, request)
        return result if isinstance(result, Outcome) else Outcome(result)

    def _undecodable(
        self, exchange: Exchange, value: bytes | None, exc: DecodeError, where: dict[str, Any]
    ) -> list[Outgoing]:
        out = [_dead_letter(exchange.request_topic, value, exc.code, str(exc), where)]
        if exc.request_id is not None and exc.client_id is not None:
            reply = error_reply(exchange, exc.request_id, exc.client_id, exc.info())
            out.insert(0, _reply(exchange, reply))
        return out


def _reply(exchange: Exchange, reply: Reply) -> Outgoing:
    return Outgoing(exchange.reply_topic, reply.client_id, encode(reply))


def _dead_letter(
    topic: str, value: bytes | None, code: ErrorCode, reason: str, where: dict[str, Any]
) -> Outgoing:
    letter = dead_letter_for(COMPONENT, topic, value, code, reason, **where)
    return Outgoing(Topic.DEAD_LETTER, letter.source_topic, encode(letter))
