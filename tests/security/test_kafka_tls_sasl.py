"""The whole stack over Kafka's own TLS and SASL/SCRAM, switched on by configuration alone.

A private broker is started from environment variables only (the ones an operator sets):
``BLUETRACK_KAFKA_SECURITY_PROTOCOL=SASL_SSL``, ``BLUETRACK_KAFKA_SASL_MECHANISM=
SCRAM-SHA-512``, user name and password, ``BLUETRACK_KAFKA_SSL_CA_LOCATION``. The local
stack then makes a loopback CA, gives the broker a SASL_SSL listener and the SCRAM user
(``bluetrack.stack.kafka_security``); the server, the client flows and the processor (a
child process, as `bluetrack up` runs it) use the same settings. Clients without TLS,
without the CA, or without the right password are refused.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pymongo
import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from security_support import PASSWORD, dead_letters, play_pair, records, unique, wait_until
from server_harness import import_test_catalogue, running_server, server_settings

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.assign import assign_at_end
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.frames import decode_frame
from bluetrack.protocol.plays import AcceptedPlay
from bluetrack.protocol.topics import Topic
from bluetrack.server.runner import Server
from bluetrack.stack import apps, kafka_security, processes
from bluetrack.stack.testing import running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USER = "bluetrack-app"


@pytest.fixture(scope="module")
def secure_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The operator's environment: nothing but the documented variables."""
    folder = tmp_path_factory.mktemp("secure")
    env = {
        "BLUETRACK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BLUETRACK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "BLUETRACK_KAFKA_SASL_USERNAME": USER,
        "BLUETRACK_KAFKA_SASL_PASSWORD": "pw " + secrets.token_urlsafe(18),
        "BLUETRACK_KAFKA_SSL_CA_LOCATION": str(folder / "trust" / "bluetrack-ca.pem"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "BLUETRACK_KAFKA_EXTRA_CONFIG"):
            patch.delenv(name, raising=False)
            patch.delenv(f"BLUETRACK_{name}", raising=False)
        yield env


@pytest.fixture(scope="module")
def secure(
    secure_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("secure-home")
    began = time.monotonic()
    with running_stack(home, Settings()) as settings:
        print(f"\nTLS + SCRAM stack up in {time.monotonic() - began:.1f} s")
        yield settings


def test_the_settings_came_from_the_environment(
    secure: Settings, secure_env: dict[str, str]
) -> None:
    assert secure.kafka_security_protocol == "SASL_SSL"
    assert secure.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert secure.kafka_sasl_password is not None
    assert (
        secure.kafka_sasl_password.get_secret_value() == secure_env["BLUETRACK_KAFKA_SASL_PASSWORD"]
    )
    ca = Path(secure_env["BLUETRACK_KAFKA_SSL_CA_LOCATION"])
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    properties = (secure.home / "kafka" / "config" / "server.properties").read_text()
    assert "PLAINTEXT" not in properties.replace("SASL_PLAINTEXT", "")  # no plaintext listener
    assert (secure.home / "kafka" / "config" / "server.properties").stat().st_mode & 0o077 == 0
    log = processes.log_file(secure.home, "kafka").read_text()
    assert secure.kafka_sasl_password.get_secret_value() not in log  # format args via argfile
    assert kafka_security.load_secrets(secure).broker_password not in log


def _refused(conf: dict[str, Any]) -> str:
    """What a client with ``conf`` is told asking for metadata (fails if it gets any)."""
    errors: list[str] = []
    full: dict[str, Any] = {
        **conf,
        "socket.timeout.ms": 3000,
        "error_cb": lambda err: errors.append(str(err)),
    }
    admin = AdminClient(full)
    with pytest.raises(KafkaException) as refused:
        admin.list_topics(timeout=6)
    admin.poll(1)  # serves error_cb: the reason, where librdkafka gives one
    return " | ".join([*dict.fromkeys(errors), str(refused.value)])


def test_clients_without_tls_or_without_the_password_are_refused(secure: Settings) -> None:
    good: dict[str, Any] = {**secure.kafka_client_config()}
    address = {"bootstrap.servers": secure.bootstrap_servers}
    outcomes = {
        "plaintext": _refused({**address, "security.protocol": "PLAINTEXT"}),
        "TLS without SASL": _refused(
            {**address, "security.protocol": "SSL", "ssl.ca.location": good["ssl.ca.location"]}
        ),
        "SASL without TLS": _refused(
            {
                **address,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": USER,
                "sasl.password": good["sasl.password"],
            }
        ),
        "wrong password": _refused({**good, "sasl.password": "guess"}),
        "unknown user": _refused({**good, "sasl.username": "mallory"}),
        "broker not trusted (no CA)": _refused(
            {k: v for k, v in good.items() if k != "ssl.ca.location"}
        ),
    }
    print("\n" + "\n".join(f"{what}: {error[:300]}" for what, error in outcomes.items()))
    assert "Authentication failed" in outcomes["wrong password"]
    assert "certificate verify failed" in outcomes["broker not trusted (no CA)"]
    assert AdminClient(good).list_topics(timeout=30).brokers  # while the right one works


def test_a_plaintext_producer_delivers_nothing(secure: Settings, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex.encode()
    failures: list[Any] = []
    plain = Producer({"bootstrap.servers": secure.bootstrap_servers, "message.timeout.ms": 4000})
    plain.produce(Topic.SONGS_TRACKER, marker, on_delivery=lambda err, _: failures.append(err))
    assert plain.flush(15) == 0
    assert failures and failures[0] is not None, "a plaintext message was delivered"
    assert not [r for r in records(secure, Topic.SONGS_TRACKER) if marker in (r.value or b"")]


@pytest.fixture(scope="module")
def server_over_tls(secure: Settings) -> Iterator[tuple[Settings, Server]]:
    mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(secure.store_uri)
    db = mongo[f"tls_{uuid.uuid4().hex[:10]}"]
    import_test_catalogue(db, per_genre=2)
    settings = server_settings(secure, db.name, watermark_s=5, trigger_s=2.0)
    try:
        with running_server(settings) as server:
            yield settings, server
    finally:
        mongo.close()


class Charts:
    def __init__(self, settings: Settings) -> None:
        self.seen: list[ChartMessage] = []
        self._stop = threading.Event()
        self._consumer = Consumer({**settings.kafka_client_config(), "group.id": unique("charts")})
        assign_at_end(self._consumer, [Topic.TOP_GENRES], 30)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                self.seen.append(
                    codec.decode(msg.value(), ChartMessage, max_bytes=codec.MAX_REPLY_BYTES)
                )
        self._consumer.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_the_server_client_flows_and_processor_work_over_tls_and_scram(
    server_over_tls: tuple[Settings, Server], tmp_path: Path
) -> None:
    settings, _ = server_over_tls
    charts = Charts(settings)
    processor_home = tmp_path / "home"
    with_processor = apps.is_present("bluetrack.processor")
    proc_settings = settings.model_copy(
        update={"home": processor_home, "checkpoint_dir": tmp_path / "checkpoint"}
    )
    if with_processor:
        processor_home.mkdir()
        apps.start(proc_settings, "processor", "bluetrack.processor")
    client = BlueTrackClient(settings)
    try:
        name = unique("tls")
        assert client.register(name, f"{name}@example.com", PASSWORD).username == name
        session = client.login(name, PASSWORD)
        assert client.validate(session).ok
        shelves = client.songs(session)
        track = shelves[0].tracks[0]
        began = utc_now() - timedelta(seconds=40)
        ids = [e.event_id for e in play_pair(client, session, track, shelves[0].genre)]
        forged = client.play(
            session, "start", track, genre=shelves[0].genre, start_time=began, event_id=ids[0]
        )
        assert client.flush() == 0

        def accepted() -> list[AcceptedPlay]:
            found = [
                play
                for r in records(settings, Topic.PLAYS_ACCEPTED)
                for play in decode_frame(r.value)
            ]
            return [p for p in found if p.event_id in ids]

        assert len(wait_until(lambda: len(accepted()) == 2 and accepted(), 30, "accepted")) == 2
        letters = wait_until(
            lambda: [d for d in dead_letters(settings) if forged.event_id in d.payload],
            30,
            "the replay's dead letter",
        )
        assert letters[0].code is ErrorCode.DUPLICATE_EVENT
        assert client.logout(session).ok
        if not with_processor:
            pytest.skip("server and client flows passed; no `python -m bluetrack.processor` yet")
        genre = shelves[0].genre
        wait_until(
            lambda: next(
                (
                    c
                    for c in charts.seen
                    if any(e.genre == genre and e.count >= 1 for e in c.all_time.entries)
                ),
                None,
            ),
            240,
            "a chart counting the play, from the processor over SASL_SSL",
        )
    finally:
        client.close()
        charts.close()
        if with_processor:
            processes.stop(processor_home, "processor", 30)
