"""Typed, frozen settings read from the environment.

The three endpoints use the names operators already know (``KAFKA_BOOTSTRAP_SERVERS``,
``MONGODB_URI``, ``SPARK_MASTER``); everything else is ``BLUETRACK_*``. Pointing the same
code at a Kafka cluster, a MongoDB replica set or a Spark master is configuration only.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name, f"BLUETRACK_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BLUETRACK_", frozen=True, extra="ignore", populate_by_name=True
    )

    # --- endpoints -------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=_alias("KAFKA_BOOTSTRAP_SERVERS")
    )
    mongodb_uri: str | None = Field(default=None, validation_alias=_alias("MONGODB_URI"))
    spark_master: str = Field(default="local[2]", validation_alias=_alias("SPARK_MASTER"))
    mongodb_db: str = "bluetrack"
    mongodb_timeout_s: float = Field(default=10.0, gt=0)  # finding the server, connecting
    mongodb_operation_timeout_s: float = Field(default=300.0, gt=0)  # one operation's reply

    # --- Kafka security (production clusters); passed straight to librdkafka ----------------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    kafka_extra_config: str = "{}"  # JSON object of extra librdkafka settings

    # --- local stack -----------------------------------------------------------------------
    home: Path = PROJECT_ROOT / ".run"  # data, logs and pid files of `bluetrack up`
    cache: Path = PROJECT_ROOT / ".cache"  # jars, binaries built by setup
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    ferretdb_port: int = 27017
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 30.0  # SIGTERM grace before SIGKILL in `bluetrack down`
    plays_partitions: int = 4
    request_partitions: int = 2
    # A client reads only the reply partition its id hashes to: more partitions, less of
    # other clients' replies downloaded by each.
    reply_partitions: int = 8

    # --- server ----------------------------------------------------------------------------
    bcrypt_cost: int = Field(default=12, ge=4, le=16)
    session_ttl_s: int = 24 * 3600
    session_purge_interval_s: int = 300
    # How long a server process trusts its cached copy of a session before asking the store
    # again: how late it sees a logout or extension done by another server process.
    session_recheck_s: float = Field(default=30.0, gt=0)
    clock_skew_s: int = 30
    max_event_age_s: int = 3600
    # Verify each consumed batch of plays column-wise (one Arrow parse); False: one event at
    # a time (the reference path; kept for comparison in benchmarks).
    plays_columnar: bool = True
    login_max_failures: int = 5
    login_failure_window_s: int = 900
    login_base_delay_s: float = 1.0
    register_per_client_per_minute: int = 5
    server_workers: int = 16
    server_public_key: str | None = None  # pin the server's key (base64) instead of TOFU
    songs_genres: int = 20
    songs_per_genre: int = 10

    # --- catalogue -------------------------------------------------------------------------
    catalogue_csv: Path | None = None
    catalogue_seed: int = 42
    catalogue_generated_per_genre: int = 200

    # --- processor -------------------------------------------------------------------------
    trigger_s: float = 5.0
    window_s: int = 15 * 60
    watermark_s: int = 30
    qualify_rule: Literal["spotify", "lastfm"] = "spotify"
    checkpoint_dir: Path | None = None  # default: <home>/checkpoints/processor
    spark_jars_dir: Path | None = None  # default: <cache>/spark-jars
    spark_driver_memory: str = "1g"  # the engine state lives in the driver's Python, not here
    spark_executor_memory: str = "1g"
    spark_shuffle_partitions: int | None = None  # default: one per core, at least 2
    spark_ui: bool = False
    spark_log_level: str = "WARN"
    processor_max_offsets_per_trigger: int | None = None  # cap a batch (backlog catch-up)
    processor_state_keep: int = 3  # engine states kept in the checkpoint (>= 2 for replays)
    # Topic overrides (tests, replays into a scratch topic); None: the protocol's topics.
    processor_input_topic: str | None = None
    processor_chart_topic: str | None = None

    # --- client ----------------------------------------------------------------------------
    config_dir: Path = Path.home() / ".config" / "bluetrack"
    request_timeout_s: float = 10.0
    language: str | None = None  # "en" / "pl"; default from the locale

    log_level: str = "INFO"

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def local_kafka(self) -> bool:
        """`bluetrack up` starts a broker only when no external one is configured."""
        return self.kafka_bootstrap_servers is None

    @property
    def store_uri(self) -> str:
        return self.mongodb_uri or f"mongodb://127.0.0.1:{self.ferretdb_port}/"

    @property
    def local_store(self) -> bool:
        return self.mongodb_uri is None

    @property
    def processor_checkpoint_dir(self) -> Path:
        return self.checkpoint_dir or self.home / "checkpoints" / "processor"

    @property
    def jars_dir(self) -> Path:
        return self.spark_jars_dir or self.cache / "spark-jars"

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka settings shared by every producer and consumer."""
        conf: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            conf["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            conf["ssl.ca.location"] = self.kafka_ssl_ca_location
        extra = json.loads(self.kafka_extra_config)
        conf.update({str(k): str(v) for k, v in extra.items()})
        return conf


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
