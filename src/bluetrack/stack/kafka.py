"""A single-node KRaft Kafka broker from the jars `make setup` puts in ``<cache>/kafka/libs``."""

from __future__ import annotations

import base64
import os
import shutil
import time
import uuid
from pathlib import Path

from bluetrack.config import Settings
from bluetrack.stack import kafka_security, processes
from bluetrack.stack.exceptions import MissingBinary, StackError

NAME = "kafka"
HOST = "127.0.0.1"
JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")

LOG4J2_PROPERTIES = """\
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
# Every client and server prints its whole config at INFO: hundreds of lines per start.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


def kafka_dir(settings: Settings) -> Path:
    return settings.home / "kafka"


def data_dir(settings: Settings) -> Path:
    return kafka_dir(settings) / "data"


def libs_dir(settings: Settings) -> Path:
    return settings.cache / "kafka" / "libs"


def address(settings: Settings) -> str:
    return settings.bootstrap_servers


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").is_file():
        return str(Path(java_home, "bin", "java"))
    java = shutil.which("java")
    if java is None:
        raise MissingBinary("java not found: install a JDK >= 17 or set JAVA_HOME")
    return java


def server_properties(settings: Settings) -> str:
    broker = f"{HOST}:{settings.kafka_port}"
    controller = f"{HOST}:{settings.kafka_controller_port}"
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir(settings)),
        # Topics come from protocol.topics with explicit partitions; a typo must not create one.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # One broker, no one to wait for: consumers join their group at once.
        "group.initial.rebalance.delay.ms": "0",
        # After a kill -9 the restarted broker may only register once the old registration's
        # session expired (default 9 s); 4 s still tolerates a GC pause on a busy 2-core box.
        "broker.heartbeat.interval.ms": "1000",
        "broker.session.timeout.ms": "4000",
    }
    if kafka_security.enabled(settings):  # TLS and/or SASL, as the client settings ask
        lines.update(kafka_security.listener_properties(settings, broker, controller))
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def write_config(settings: Settings) -> Path:
    config_dir = kafka_dir(settings) / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    if kafka_security.enabled(settings):
        kafka_security.prepare(settings)
    properties = config_dir / "server.properties"
    # Owner-only: with TLS/SASL on it holds the keystore and broker passwords.
    kafka_security.write_private(properties, server_properties(settings))
    return properties


def java_command(settings: Settings, main_class: str, *args: str) -> tuple[str, ...]:
    libs = libs_dir(settings)
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise MissingBinary(f"Kafka jars not found in {libs}: run `make setup`")
    log4j = kafka_dir(settings) / "config" / "log4j2.properties"
    return (
        find_java(),
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    )


def new_cluster_id() -> str:
    """Kafka's own format: 16 random bytes, URL-safe base64 without padding, no leading '-'."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(settings: Settings, properties: Path) -> None:
    """Format the KRaft log directory, once: a formatted one keeps its cluster id."""
    if (data_dir(settings) / "meta.properties").exists():
        kafka_security.check_formatted_users(settings, data_dir(settings))
        return
    arguments = (
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "-t",
        new_cluster_id(),
        "-c",
        str(properties),
        *kafka_security.scram_arguments(settings),  # SCRAM users exist only if made here
    )
    step = "formatting storage"
    with kafka_security.secret_arguments(settings, arguments) as safe_arguments:
        command = java_command(settings, *safe_arguments)
        code = processes.run_logged(settings.home, NAME, step, command, settings.start_timeout_s)
    if code != 0:
        raise StackError(
            f"formatting Kafka storage failed: {processes.last_log_line(settings.home, NAME)} "
            f"(log: {processes.log_file(settings.home, NAME)})"
        )
    kafka_security.record_formatted_users(settings, data_dir(settings))


def process_spec(settings: Settings, properties: Path) -> processes.ProcessSpec:
    return processes.ProcessSpec(
        name=NAME,
        argv=java_command(settings, "kafka.Kafka", str(properties)),
        cwd=kafka_dir(settings),
    )


def is_ready(settings: Settings) -> bool:
    """The broker answers a metadata request (the port alone opens before it can serve)."""
    if not processes.port_open(settings.kafka_port):
        return False
    from confluent_kafka.admin import AdminClient

    # The clients' own settings: with TLS/SASL on, a plaintext probe would never be answered.
    conf: dict[str, str | int | float | bool] = {
        **settings.kafka_client_config(),
        "bootstrap.servers": f"{HOST}:{settings.kafka_port}",
    }
    admin = AdminClient(conf)
    try:
        return bool(admin.list_topics(timeout=2).brokers)
    except Exception:  # KafkaException while the controller is still electing itself
        return False


def start(settings: Settings) -> float | None:
    """Start the broker and wait until it serves; seconds taken, or None if already up."""
    if processes.running_pid(settings.home, NAME) is not None:
        return None
    began = time.monotonic()
    processes.ensure_port_free(settings.kafka_port, "Kafka", "BLUETRACK_KAFKA_PORT")
    processes.ensure_port_free(
        settings.kafka_controller_port, "the Kafka controller", "BLUETRACK_KAFKA_CONTROLLER_PORT"
    )
    properties = write_config(settings)
    format_storage(settings, properties)
    pid = processes.launch(settings.home, process_spec(settings, properties))
    processes.wait_ready(
        settings.home, NAME, pid, lambda: is_ready(settings), settings.start_timeout_s
    )
    return time.monotonic() - began
