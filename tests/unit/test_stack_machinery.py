"""The local-stack machinery without a broker: processes, settings hand-off, topics, CLI."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bluetrack import cli
from bluetrack.config import Settings
from bluetrack.errors import BlueTrackError
from bluetrack.protocol.topics import TOPIC_SPECS, Topic
from bluetrack.stack import ferretdb, kafka, lifecycle, processes, topics
from bluetrack.stack.apps import child_env
from bluetrack.stack.commands import status_lines
from bluetrack.stack.exceptions import MissingBinary, PortInUse, StartFailed
from bluetrack.stack.testing import free_ports


def spec(home: Path, name: str, *argv: str) -> processes.ProcessSpec:
    return processes.ProcessSpec(name=name, argv=argv, cwd=home / name)


# --- processes ---------------------------------------------------------------------------


def test_a_launched_process_is_found_by_its_pid_file_and_stopped(tmp_path: Path) -> None:
    pid = processes.launch(tmp_path, spec(tmp_path, "sleeper", "sleep", "30"))
    assert processes.running_pid(tmp_path, "sleeper") == pid
    assert processes.stop(tmp_path, "sleeper", timeout_s=5)
    assert processes.running_pid(tmp_path, "sleeper") is None
    assert not processes.pid_file(tmp_path, "sleeper").exists()
    assert "sleep 30" in processes.log_file(tmp_path, "sleeper").read_text()


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    stubborn = spec(tmp_path, "stubborn", "bash", "-c", "trap '' TERM; sleep 30 & wait")
    pid = processes.launch(tmp_path, stubborn)
    time.sleep(0.3)  # let bash install its trap
    began = time.monotonic()
    assert processes.stop(tmp_path, "stubborn", timeout_s=0.5)
    assert not processes.is_alive(pid)
    assert time.monotonic() - began < 5


def test_stopping_a_part_that_is_not_running_says_so(tmp_path: Path) -> None:
    assert processes.stop(tmp_path, "ghost", timeout_s=1) is False
    assert processes.kill(tmp_path, "ghost") is False


def test_a_recycled_pid_is_not_taken_for_our_process(tmp_path: Path) -> None:
    record = processes.pid_file(tmp_path, "kafka")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"pid": os.getpid(), "start_ticks": -1, "argv": ["java"]}))
    assert processes.running_pid(tmp_path, "kafka") is None


def test_a_part_that_exits_while_starting_fails_with_its_last_log_line(tmp_path: Path) -> None:
    pid = processes.launch(tmp_path, spec(tmp_path, "crasher", "sh", "-c", "echo boom; exit 3"))
    with pytest.raises(StartFailed, match="crasher exited while starting: boom"):
        processes.wait_ready(tmp_path, "crasher", pid, lambda: False, timeout_s=10)


def test_the_start_failure_quotes_the_last_error_not_the_goodbye(tmp_path: Path) -> None:
    script = "echo 'ValueError: no such store'; echo 'server stopped'; exit 1"
    pid = processes.launch(tmp_path, spec(tmp_path, "server", "sh", "-c", script))
    with pytest.raises(StartFailed, match="server exited while starting: ValueError: no such"):
        processes.wait_ready(tmp_path, "server", pid, lambda: False, timeout_s=10)


def test_a_part_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    pid = processes.launch(tmp_path, spec(tmp_path, "slow", "sleep", "30"))
    try:
        with pytest.raises(StartFailed, match="slow did not become ready within 0s"):
            processes.wait_ready(tmp_path, "slow", pid, lambda: False, timeout_s=0.3)
    finally:
        processes.kill(tmp_path, "slow")


def test_a_taken_port_names_the_setting_that_moves_the_part() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(
            PortInUse, match=rf"port {port} needed by Kafka .* BLUETRACK_KAFKA_PORT"
        ):
            processes.ensure_port_free(port, "Kafka", "BLUETRACK_KAFKA_PORT")


# --- Kafka and FerretDB configuration ------------------------------------------------------


def test_the_broker_listens_on_the_configured_ports(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=19092, kafka_controller_port=19093)
    properties = kafka.server_properties(settings)
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093\n" in properties
    assert f"log.dirs={tmp_path / 'kafka' / 'data'}\n" in properties


def test_cluster_ids_have_kafkas_format() -> None:
    ids = {kafka.new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for cluster_id in ids:
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_missing_jars_and_binaries_point_to_make_setup(tmp_path: Path) -> None:
    kafka_port, controller_port, ferretdb_port = free_ports(3)
    settings = Settings(
        home=tmp_path / "run",
        cache=tmp_path / "empty-cache",
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        ferretdb_port=ferretdb_port,
    )
    with pytest.raises(MissingBinary, match=r"Kafka jars not found .*make setup"):
        kafka.start(settings)
    with pytest.raises(MissingBinary, match=r"FerretDB not found .*make setup"):
        ferretdb.start(settings)


# --- settings handed to child processes -----------------------------------------------------


def test_child_processes_get_exactly_the_parents_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        home=tmp_path,
        kafka_bootstrap_servers="broker-1:9092",
        kafka_sasl_password=SecretStr("s3cret"),
        plays_partitions=7,
        trigger_s=0.5,
    )
    env = child_env(settings)
    monkeypatch.setattr(os, "environ", env)
    assert Settings() == settings


def test_an_inherited_endpoint_cannot_override_a_local_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://elsewhere:27017/")
    env = child_env(Settings(mongodb_uri=None))
    assert "MONGODB_URI" not in env and "BLUETRACK_MONGODB_URI" not in env


# --- status ---------------------------------------------------------------------------------


def test_external_services_are_reported_as_such(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        kafka_bootstrap_servers="broker-1:9092",
        mongodb_uri="mongodb://app:hunter2@db-1:27017/",
    )
    by_name = {part.name: part for part in lifecycle.status(settings)}
    assert (by_name["kafka"].state, by_name["kafka"].address) == ("external", "broker-1:9092")
    assert by_name["ferretdb"].state == "external"
    assert by_name["ferretdb"].address == "mongodb://app:***@db-1:27017/"


def test_local_services_that_were_never_started_are_down(tmp_path: Path) -> None:
    by_name = {part.name: part for part in lifecycle.status(Settings(home=tmp_path))}
    assert by_name["kafka"] == lifecycle.PartStatus("kafka", "down", "127.0.0.1:9092", None, None)
    assert by_name["ferretdb"].state == "down"


def test_status_lines_are_aligned_columns() -> None:
    lines = status_lines(
        [
            lifecycle.PartStatus("kafka", "up", "127.0.0.1:9092", 42, Path("/r/kafka.log")),
            lifecycle.PartStatus("server", "not there yet", "-", None, None),
        ]
    )
    assert lines == [
        "PART    STATE          ADDRESS         PID  LOG",
        "kafka   up             127.0.0.1:9092  42   /r/kafka.log",
        "server  not there yet  -               -    -",
    ]


def test_an_unknown_part_is_a_clear_error() -> None:
    with pytest.raises(BlueTrackError, match="unknown part 'zookeeper'"):
        lifecycle.part("zookeeper")


# --- topics (against a fake admin client) -----------------------------------------------------


class Done:
    def result(self, timeout: float | None = None) -> None:
        return None


class FakeAdmin:
    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions
        self.created: dict[str, tuple[int, dict[str, str]]] = {}
        self.grown: dict[str, int] = {}

    def list_topics(self, timeout: float) -> Any:
        return types.SimpleNamespace(
            topics={
                name: types.SimpleNamespace(partitions=dict.fromkeys(range(count)))
                for name, count in self.partitions.items()
            }
        )

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Done]:
        for topic in new_topics:
            self.created[topic.topic] = (topic.num_partitions, dict(topic.config))
            self.partitions[topic.topic] = topic.num_partitions
        return {topic.topic: Done() for topic in new_topics}

    def create_partitions(self, requests: list[Any], **kwargs: Any) -> dict[str, Done]:
        for request in requests:
            self.grown[request.topic] = request.new_total_count
            self.partitions[request.topic] = request.new_total_count
        return {request.topic: Done() for request in requests}


def test_topics_are_created_grown_and_never_shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(plays_partitions=4, request_partitions=2)
    admin = FakeAdmin({Topic.SONGS_TRACKER.value: 2, Topic.TOP_GENRES.value: 3})
    monkeypatch.setattr(topics, "admin_client", lambda _settings: admin)
    awaited: list[str] = []
    monkeypatch.setattr(topics, "wait_for_leaders", lambda _settings, names: awaited.extend(names))

    states = {state.name: state for state in topics.ensure_topics(settings)}

    assert set(admin.created) == {spec.topic.value for spec in TOPIC_SPECS} - {
        Topic.SONGS_TRACKER.value,
        Topic.TOP_GENRES.value,
    }
    assert admin.created[Topic.SERVER_KEYS.value] == (1, {"cleanup.policy": "compact"})
    assert admin.created[Topic.PLAYS_ACCEPTED.value] == (4, {})
    assert admin.created[Topic.SONGS_RESPONSE.value] == (settings.reply_partitions, {})
    assert admin.created[Topic.SONGS_UPDATE.value] == (2, {})
    assert admin.grown == {Topic.SONGS_TRACKER.value: 4}
    assert states[Topic.TOP_GENRES.value].outcome == "too many partitions: 3"
    assert states[Topic.LOGIN_USER.value].outcome == "created"
    assert sorted(awaited) == sorted([*admin.created, *admin.grown])  # usable once returned


def test_topics_already_in_place_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    wanted = {spec.topic.value: topics.wanted_partitions(spec, settings) for spec in TOPIC_SPECS}
    admin = FakeAdmin(wanted)
    monkeypatch.setattr(topics, "admin_client", lambda _settings: admin)
    monkeypatch.setattr(topics, "wait_for_leaders", lambda _settings, names: pytest.fail())

    outcomes = {state.outcome for state in topics.ensure_topics(settings)}

    assert (admin.created, admin.grown, outcomes) == ({}, {}, {"exists"})


# --- the bluetrack command --------------------------------------------------------------------


def test_subcommands_come_from_the_registered_modules(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: Any) -> int:
        raise BlueTrackError("the broker is on fire")

    def register(subparsers: Any) -> None:
        subparsers.add_parser("explode").set_defaults(func=failing)

    module = types.ModuleType("fake_commands")
    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_commands", module)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["fake_commands"])

    assert cli.main(["explode"]) == 1
    assert capsys.readouterr().err == "bluetrack explode: the broker is on fire\n"


def test_the_stack_commands_are_registered() -> None:
    parser = cli.build_parser()
    for command in ("up", "down", "status", "topics"):
        assert callable(parser.parse_args([command]).func)


def test_up_says_which_topics_it_created_and_grew(monkeypatch: pytest.MonkeyPatch) -> None:
    states = [
        topics.TopicState("songs_response", 8, False, "grown"),
        topics.TopicState("top_genres", 1, False, "exists"),
        topics.TopicState("dead_letter", 2, False, "created"),
    ]
    monkeypatch.setattr(topics, "ensure_topics", lambda _settings: states)
    said: list[str] = []
    lifecycle._up_topics(Settings(), said.append)
    assert said == ["topics     3 topics, 1 created, grown: songs_response to 8"]
