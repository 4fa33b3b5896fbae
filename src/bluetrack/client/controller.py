"""The client's flows: register, log in (or resume), shelves, plays, charts, log out.

The controller runs on the UI thread and talks to the gateway only through the workers;
the views only through their methods and signals.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from bluetrack.client import wording
from bluetrack.client.exceptions import GatewayError
from bluetrack.client.gateway import Gateway, SessionHandle
from bluetrack.client.player import Player, PlayIntent
from bluetrack.client.session_store import SessionStore
from bluetrack.client.views.main_window import MainWindow
from bluetrack.client.workers import ChartRunner, RequestRunner
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.messages import Account, Shelf, TrackSummary
from bluetrack.protocol.plays import PlayEvent

log = logging.getLogger(__name__)

# Which form field a registration error belongs under.
_FIELD_OF = {
    ErrorCode.INVALID_USERNAME: "username",
    ErrorCode.USERNAME_TAKEN: "username",
    ErrorCode.INVALID_EMAIL: "email",
    ErrorCode.EMAIL_TAKEN: "email",
    ErrorCode.WEAK_PASSWORD: "password",
}


def _play_call(session: SessionHandle, intent: PlayIntent) -> Callable[[Gateway], PlayEvent]:
    def call(gateway: Gateway) -> PlayEvent:
        return gateway.play(
            session,
            intent.operation,
            intent.track,
            intent.genre,
            intent.start_time,
            intent.event_time,
            intent.event_id,
        )

    return call


class ClientController(QObject):
    registered = Signal(object)  # Account
    logged_in = Signal(object)  # SessionHandle
    logged_out = Signal()
    shelves_loaded = Signal(list)  # list[Shelf]
    play_sent = Signal(object)  # PlayEvent
    chart_received = Signal(object)  # ChartMessage
    status_changed = Signal(str)

    def __init__(
        self,
        gateway: Gateway,
        store: SessionStore,
        window: MainWindow,
        *,
        request_timeout_s: float,
        retry_s: float = 5.0,
        player: Player | None = None,
    ) -> None:
        super().__init__()
        self.gateway = gateway
        self.store = store
        self.window = window
        self.session: SessionHandle | None = None
        self.requests = RequestRunner(gateway, deadline_s=request_timeout_s * 2 + 5, parent=self)
        self.charts = ChartRunner(gateway, self, retry_s=retry_s)
        self.player = player or Player(self)
        self._outbox: deque[PlayIntent] = deque()  # plays not sent yet, oldest first
        self._sending = False
        self._shelves_wanted = False  # a shelf load failed for a passing reason
        self._resume_wanted = False  # a session resume failed for a passing reason
        self._server_error: GatewayError | None = None
        self._broker_error: GatewayError | None = None
        self._shut_down = False
        self._link_known = False  # until the chart feed has tried the broker once
        self._last_status = ""
        self._retry = QTimer(self, interval=round(retry_s * 1000))
        self._retry.timeout.connect(self._recover)
        self._wire_views()
        self._wire_workers()

    # --- wiring -----------------------------------------------------------------------------
    def _wire_views(self) -> None:
        w = self.window
        w.register_page.register_requested.connect(self.register)
        w.register_page.login_wanted.connect(lambda: w.show_page(w.login_page))
        w.login_page.login_requested.connect(self.login)
        w.login_page.register_wanted.connect(lambda: w.show_page(w.register_page))
        w.main_page.refresh_requested.connect(self.load_shelves)
        w.main_page.logout_requested.connect(self.logout)
        w.main_page.shelves.tile_toggled.connect(self._toggle)
        w.main_page.player.stop_requested.connect(self.player.stop)

    def _wire_workers(self) -> None:
        bar, shelves = self.window.main_page.player, self.window.main_page.shelves
        self.player.intent.connect(self._queue_play)
        self.player.started.connect(bar.show_track)
        self.player.started.connect(lambda track, _genre: shelves.mark_playing(track.track_id))
        self.player.progressed.connect(bar.show_progress)
        self.player.stopped.connect(bar.show_idle)
        self.player.stopped.connect(lambda: shelves.mark_playing(None))
        self.requests.succeeded.connect(self._server_answered)
        self.requests.failed.connect(self._request_failed)
        self.charts.chart_arrived.connect(self._chart_arrived)
        self.charts.link_changed.connect(self._broker_link)

    # --- start and stop ---------------------------------------------------------------------
    def start(self) -> None:
        """Follow the charts from the start (it also tells whether Kafka is there) and
        resume a remembered session, or ask the user to log in."""
        self.charts.start()
        self._show_status()
        saved = self.store.load()
        session = self._restore(saved) if saved else None
        if session is None:
            self.window.show_page(self.window.login_page)
            return
        self.window.login_page.prefill(session.username)
        self.window.show_page(self.window.login_page)
        self._resume(session)

    def shutdown(self) -> None:
        """Stop the play (its stop event still goes out), the feed and the worker. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.player.stop()
        self._retry.stop()
        self.charts.stop()
        self.requests.stop()

    def _restore(self, saved: str) -> SessionHandle | None:
        try:
            return self.gateway.restore_session(saved)
        except Exception:
            log.warning("the remembered session could not be read; forgetting it")
            self.store.clear()
            return None

    # --- register -----------------------------------------------------------------------------
    @Slot(str, str, str)
    def register(self, username: str, email: str, password: str) -> None:
        self.window.register_page.set_busy(True)
        self.requests.submit(
            "register",
            lambda g: g.register(username, email, password),
            self._registered,
            self._register_failed,
        )

    def _registered(self, account: Account) -> None:
        page = self.window.register_page
        name = account.username
        page.reset()
        login = self.window.login_page
        login.reset()
        login.prefill(name)
        login.show_notice(self.tr("Account created. Log in to start listening."))
        self.window.show_page(login)
        login.password.edit.setFocus()
        self.registered.emit(account)

    def _register_failed(self, error: GatewayError) -> None:
        page = self.window.register_page
        page.set_busy(False)
        field_name = _FIELD_OF.get(error.info.code) if error.info else None
        if field_name is not None:
            field = getattr(page, field_name)
            field.set_problem(wording.failure(error))
            field.edit.setFocus()
        page.show_error(wording.failure(error))

    # --- log in, resume -----------------------------------------------------------------------
    @Slot(str, str, bool)
    def login(self, login: str, password: str, remember: bool) -> None:
        self._resume_wanted = False
        self.window.login_page.set_busy(True)
        self.requests.submit(
            "login",
            lambda g: g.login(login, password),
            lambda session: self._logged_in(session, remember),
            self._login_failed,
        )

    def _logged_in(self, session: SessionHandle, remember: bool) -> None:
        if remember:
            self.store.save(session.to_json())
        else:
            self.store.clear()
        self._enter(session)

    def _login_failed(self, error: GatewayError) -> None:
        page = self.window.login_page
        page.set_busy(False)
        page.show_error(wording.failure(error))
        page.password.edit.selectAll()
        page.password.edit.setFocus()

    def _resume(self, session: SessionHandle) -> None:
        page = self.window.login_page
        page.set_busy(True, self.tr("Resuming your session…"))
        self.requests.submit(
            "resume",
            lambda g: g.validate(session),
            lambda _reply: self._enter(session),
            lambda error: self._resume_failed(session, error),
        )

    def _resume_failed(self, session: SessionHandle, error: GatewayError) -> None:
        page = self.window.login_page
        page.set_busy(False)
        if error.transient:
            # Keep the remembered session: it may well be valid once the server answers.
            self._resume_wanted = True
            page.show_error(
                self.tr("Can't resume your session yet: %1 Trying again by itself.").replace(
                    "%1", wording.failure(error)
                )
            )
            return
        self.store.clear()
        page.show_notice(self.tr("Your saved session has ended. Please log in again."))

    def _enter(self, session: SessionHandle) -> None:
        self._resume_wanted = False
        self.session = session
        main = self.window.main_page
        main.show_user(session.username)
        main.shelves.show_message(self.tr("Loading shelves…"))
        self.window.login_page.reset()
        self.window.show_page(main)
        self.load_shelves()
        self.logged_in.emit(session)

    # --- shelves ------------------------------------------------------------------------------
    @Slot()
    def load_shelves(self) -> None:
        session = self.session
        if session is None:
            return
        self._shelves_wanted = False
        self.window.main_page.show_shelves_loading()
        self.requests.submit(
            "songs", lambda g: g.songs(session), self._shelves_arrived, self._shelves_failed
        )

    def _shelves_arrived(self, shelves: list[Shelf]) -> None:
        if self.session is None:
            return  # logged out meanwhile
        main = self.window.main_page
        main.shelves.show_shelves(shelves)
        main.shelves_loaded(len(main.shelves.rows), len(main.shelves.tiles()))
        main.focus_first()
        self.shelves_loaded.emit(shelves)

    def _shelves_failed(self, error: GatewayError) -> None:
        main = self.window.main_page
        main.shelves_failed(wording.failure(error))
        if error.transient:
            self._shelves_wanted = True
            if not main.shelves.rows:
                main.shelves.show_message(
                    self.tr("The shelves will appear as soon as the server answers.")
                )
        elif wording.session_ends_with(error):
            self._session_lost()

    # --- plays --------------------------------------------------------------------------------
    @Slot(object, str)
    def _toggle(self, track: TrackSummary, genre: str) -> None:
        if self.session is not None:
            self.player.toggle(track, genre)

    @Slot(object)
    def _queue_play(self, intent: PlayIntent) -> None:
        """Every state change is sent, in order; a play the bus could not take waits
        for the connection to come back (its event time is when it happened)."""
        if self.session is None:
            return
        self._outbox.append(intent)
        self._send_plays()

    def _send_plays(self) -> None:
        session = self.session
        if self._sending or not self._outbox or session is None:
            return
        intent = self._outbox[0]
        self._sending = True
        self.requests.submit(
            f"play:{intent.operation}",
            _play_call(session, intent),
            lambda event: self._play_sent(intent, event),
            lambda error: self._play_failed(intent, error),
        )

    def _play_sent(self, intent: PlayIntent, event: PlayEvent) -> None:
        self._sending = False
        if self._outbox and self._outbox[0] is intent:
            self._outbox.popleft()
        self.play_sent.emit(event)
        self._send_plays()

    def _play_failed(self, intent: PlayIntent, error: GatewayError) -> None:
        self._sending = False
        if error.transient:
            return  # stays first in the outbox; _recover sends it again
        if self._outbox and self._outbox[0] is intent:
            self._outbox.popleft()
        if wording.session_ends_with(error):
            self._session_lost()
            return
        self.window.set_status(wording.failure(error), trouble=True)
        self._send_plays()

    # --- charts -------------------------------------------------------------------------------
    @Slot(object)
    def _chart_arrived(self, chart: ChartMessage) -> None:
        self.window.main_page.chart.show_chart(chart)
        self.chart_received.emit(chart)

    @Slot(object)
    def _broker_link(self, error: GatewayError | None) -> None:
        self._broker_error = error
        self._link_known = True
        if error is None:
            self._recover()  # Kafka is back: retry at once, not at the next tick
        self._show_status()

    # --- log out --------------------------------------------------------------------------------
    @Slot()
    def logout(self) -> None:
        session = self.session
        if session is None:
            return
        self.player.stop()  # queues the stop event ahead of the logout request
        self._send_remaining_plays(session)
        self.requests.submit(
            "logout", lambda g: g.logout(session), on_failed=self._logout_unconfirmed
        )
        self._leave(self.tr("You have logged out."))

    def _send_remaining_plays(self, session: SessionHandle) -> None:
        """At logout, send what is left once, without retries: the session is ending."""
        pending = list(self._outbox)[1 if self._sending else 0 :]
        self._outbox.clear()
        for intent in pending:
            self.requests.submit(f"play:{intent.operation}", _play_call(session, intent))

    def _logout_unconfirmed(self, error: GatewayError) -> None:
        if error.transient:
            self.window.set_status(
                self.tr(
                    "Logged out here; the server could not be told, its session expires by itself."
                )
            )

    def _session_lost(self) -> None:
        self.player.stop()
        self._outbox.clear()
        self._leave(self.tr("Your session has ended. Please log in again."))

    def _leave(self, notice: str) -> None:
        self.session = None
        self._sending = False
        self._shelves_wanted = False
        self.store.clear()
        main = self.window.main_page
        main.shelves.show_message(self.tr("Loading shelves…"))
        main.player.show_idle()
        login = self.window.login_page
        login.reset()
        login.show_notice(notice)
        self.window.show_page(login)
        self.logged_out.emit()

    # --- connection state and recovery ------------------------------------------------------------
    @Slot(str)
    def _server_answered(self, _name: str) -> None:
        if self._server_error is not None or not self._link_known:
            self._server_error = None
            self._link_known = True
            self._show_status()

    @Slot(str, object)
    def _request_failed(self, _name: str, error: GatewayError) -> None:
        if error.transient:
            self._server_error = error
            self._show_status()

    def _has_retries(self) -> bool:
        return bool(self._outbox) or self._shelves_wanted or self._resume_wanted

    def _show_status(self) -> None:
        error = self._broker_error or self._server_error
        if error is None:
            self.window.set_status(wording.connection_status(None, known=self._link_known))
        else:
            retrying = self._broker_error is not None or self._has_retries()
            self.window.set_status(wording.connection_status(error, retrying), trouble=True)
        if self._has_retries() and (error is not None) and not self._retry.isActive():
            self._retry.start()
        shown = self.window.status_text.accessibleName()
        if shown != self._last_status:
            self._last_status = shown
            self.status_changed.emit(shown)

    @Slot()
    def _recover(self) -> None:
        """Retry what failed for a passing reason; stop ticking once nothing is left."""
        if not self._has_retries():
            self._retry.stop()
            return
        if self.requests.pending:
            return  # something is already on its way; its outcome decides
        if self._resume_wanted and self.session is None:
            saved = self.store.load()
            session = self._restore(saved) if saved else None
            self._resume_wanted = False
            if session is not None:
                self._resume(session)
        if self._shelves_wanted:
            self.load_shelves()
        self._send_plays()
