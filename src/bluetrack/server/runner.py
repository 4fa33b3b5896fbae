"""One server process: wiring the service to MongoDB and Kafka, and running its threads.

Threads: the request loop (with its worker pool), the plays loop, the history writer and a
housekeeper (purges expired sessions, prunes throttle memory). ``Server.start`` returns
once all are running, so tests can start a server in-process; ``stop`` winds them down,
finishing in-flight work and committing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from confluent_kafka import Producer
from pymongo.database import Database

from bluetrack.bus.kafka import (
    flush,
    make_consumer,
    make_interactive_producer,
    make_producer,
    publish,
)
from bluetrack.config import Settings
from bluetrack.core.validation import TimeRules
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.messages import ServerKey
from bluetrack.protocol.topics import Topic
from bluetrack.server.catalogue_cache import CatalogueCache, catalogue_version
from bluetrack.server.context import ServerContext, SongSource, TrackFacts
from bluetrack.server.exceptions import STORE_DOWN, ServerError
from bluetrack.server.handlers import REGISTRY, Handler
from bluetrack.server.history_writer import HistoryWriter
from bluetrack.server.plays import PlayVerifier
from bluetrack.server.plays_loop import PlaysLoop
from bluetrack.server.request_loop import RequestLoop
from bluetrack.server.service import ServerService
from bluetrack.store.history import HistoryRepository
from bluetrack.store.server_keys import ServerKeys, load_or_create
from bluetrack.store.sessions import SessionRepository
from bluetrack.store.users import UserRepository

log = logging.getLogger(__name__)

REQUESTS_GROUP = "bluetrack-server"
# Plays get a group of their own: a rebalance of one consumer (a server joining or leaving)
# then never pauses the other, and each scales over its own partitions.
PLAYS_GROUP = "bluetrack-server-plays"
KEY_RECORD_KEY = "server"
CATALOGUE_CHECK_S = 60.0  # how often to look for a re-imported catalogue (one tiny read)


class CatalogueSource(SongSource, Protocol):
    def track_index(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Stores:
    """What the server needs from MongoDB, opened once."""

    users: UserRepository
    sessions: SessionRepository
    history: HistoryRepository
    songs: SongSource
    tracks: Mapping[str, TrackFacts]
    keys: ServerKeys
    db: Database[Any] | None = None  # set when the catalogue can be reloaded from it


def open_stores(settings: Settings) -> Stores:
    """The store as the server uses it: indexes ensured, the catalogue read into memory."""
    from bluetrack.store.database import ensure_indexes, open_database

    db = open_database(settings)
    ensure_indexes(db)
    return replace(stores_for(db, CatalogueCache.from_store(db)), db=db)


def stores_for(db: Database[Any], songs: CatalogueSource) -> Stores:
    """The repositories over ``db`` (indexes are ``store.database.ensure_indexes``'s job)."""
    users, sessions, history = UserRepository(db), SessionRepository(db), HistoryRepository(db)
    tracks = track_facts(songs.track_index())
    if not tracks:
        log.warning("the catalogue is empty: every play will be refused (run the import)")
    return Stores(users, sessions, history, songs, tracks, load_or_create(db))


def track_facts(index: Mapping[str, Any]) -> dict[str, TrackFacts]:
    """The catalogue's track index in the shape play verification uses."""
    return {
        track_id: TrackFacts(int(_field(info, "duration_ms")), frozenset(_field(info, "genres")))
        for track_id, info in index.items()
    }


def _field(info: Any, name: str) -> Any:
    return info[name] if isinstance(info, Mapping) else getattr(info, name)


def publish_key(producer: Producer, keys: ServerKeys) -> None:
    """Announce the public key on the compacted keys topic (clients read the latest)."""
    message = ServerKey(public_key=keys.public_key_b64, key_id=keys.key_id, published_at=utc_now())
    publish(producer, Topic.SERVER_KEYS, message, key=KEY_RECORD_KEY)
    flush(producer, 30.0)


class Server:
    def __init__(
        self,
        settings: Settings,
        *,
        requests_group: str = REQUESTS_GROUP,
        plays_group: str = PLAYS_GROUP,
        stores: Callable[[Settings], Stores] = open_stores,
        registry: Mapping[Topic, Handler] = REGISTRY,
    ) -> None:
        self.settings = settings
        self._open_stores = stores
        self._registry = registry
        self._requests_group = requests_group
        self._plays_group = plays_group
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._producers: list[Producer] = []
        self.history: HistoryWriter | None = None
        self._db: Database[Any] | None = None
        self.ctx: ServerContext | None = None
        self.requests: RequestLoop | None = None
        self.plays: PlaysLoop | None = None

    def start(self) -> None:
        if self._threads:
            raise ServerError("this server is already running")
        stores = self._open_stores(self.settings)
        self._db = stores.db
        ctx = ServerContext.create(
            self.settings, stores.keys, stores.users, stores.sessions, stores.songs
        )
        self.ctx = ctx
        request_producer, plays_producer = (
            make_interactive_producer(self.settings),
            make_producer(self.settings),
        )
        self._producers = [request_producer, plays_producer]
        publish_key(request_producer, stores.keys)
        self.history = HistoryWriter(stores.history)
        self.history.start()
        self.requests = RequestLoop(
            ServerService(ctx, self._registry),
            make_consumer(self.settings, self._requests_group),
            request_producer,
            workers=self.settings.server_workers,
            stop=self._stop,
        )
        self.plays = PlaysLoop(
            PlayVerifier(
                ctx.session_cache,
                stores.tracks,
                TimeRules.of(self.settings.clock_skew_s, self.settings.max_event_age_s),
                columnar=self.settings.plays_columnar,
            ),
            make_consumer(self.settings, self._plays_group),
            plays_producer,
            self.history,
            stop=self._stop,
            new_producer=lambda: make_producer(self.settings),
        )
        self._spawn("requests", self.requests.run)
        self._spawn("plays", self.plays.run)
        self._spawn("housekeeping", self._housekeeping)
        log.info(
            "server up: key %s, %d tracks, %d workers",
            stores.keys.key_id,
            len(stores.tracks),
            self.settings.server_workers,
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        if self.history is not None:
            self.history.close(timeout_s)
        for producer in self._producers:
            producer.flush(timeout_s)
        # Drop the clients now, not at garbage collection (when the broker may be gone).
        self._producers.clear()
        self._threads.clear()
        self.requests = self.plays = None
        log.info("server stopped")

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """True once both consumers hold partitions (requests sent now are not missed)."""
        deadline = time.monotonic() + timeout_s
        for loop in (self.requests, self.plays):
            if loop is None or not loop.assigned.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def request_stop(self) -> None:
        """Ask every loop to finish (safe from a signal handler); ``stop`` then waits."""
        self._stop.set()

    def wait(self) -> None:
        """Block until ``stop`` is called (e.g. from a signal handler)."""
        while not self._stop.wait(1.0):
            if any(not t.is_alive() for t in self._threads):
                log.error("a server thread died; stopping")
                self._stop.set()

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=self._guarded, args=(name, target), name=name)
        thread.start()
        self._threads.append(thread)

    def _guarded(self, name: str, target: Any) -> None:
        try:
            target()
        except Exception:
            log.exception("the %s thread failed", name)
            raise

    def _housekeeping(self) -> None:
        """Refresh cached sessions often; purge, prune and look for a new catalogue rarely."""
        assert self.ctx is not None
        ctx = self.ctx
        next_purge = time.monotonic() + self.settings.session_purge_interval_s
        next_catalogue = time.monotonic() + CATALOGUE_CHECK_S
        while not self._stop.wait(self.settings.session_recheck_s / 2):
            try:
                ctx.session_cache.refresh_stale()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + self.settings.session_purge_interval_s
                    self._purge(ctx)
                if time.monotonic() >= next_catalogue:
                    next_catalogue = time.monotonic() + CATALOGUE_CHECK_S
                    self.reload_catalogue_if_changed()
            except STORE_DOWN as exc:  # the store may be down for a while; try next time
                log.warning("housekeeping: store unavailable: %s", exc)
            except Exception:
                log.exception("housekeeping failed; trying again next time")

    def reload_catalogue_if_changed(self) -> bool:
        """After a re-import (or an import finishing after we started), serve the new one.

        The housekeeping thread calls this every CATALOGUE_CHECK_S; True if it reloaded.
        """
        ctx = self.ctx
        current = ctx.songs if ctx is not None else None
        if ctx is None or self._db is None or not isinstance(current, CatalogueCache):
            return False
        if catalogue_version(self._db) == current.version:
            return False
        log.info("the catalogue was (re)imported: loading it")
        fresh = CatalogueCache.from_store(self._db)
        ctx.songs = fresh
        if self.plays is not None:
            self.plays.verifier.use_tracks(fresh.track_index())
        return True

    def _purge(self, ctx: ServerContext) -> None:
        purged = ctx.sessions.purge_expired(ctx.now())
        ctx.login_failures.prune()
        ctx.registrations.prune()
        if purged:
            log.info("purged %d expired session(s)", purged)
