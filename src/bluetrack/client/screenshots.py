"""`bluetrack screenshots DIR`: a PNG of every page, offscreen, fed with recorded replies."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSize, QTimer, SignalInstance

from bluetrack.client.app import Client
from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.client.player import Player
from bluetrack.client.recorded import RecordedGateway, Recording
from bluetrack.config import PROJECT_ROOT

DEFAULT_RECORDING = PROJECT_ROOT / "tests" / "gui" / "recorded"
SHOT_SIZE = QSize(1280, 800)
WAIT_MS = 10_000


class _FakeMonotonic:
    """A clock the screenshots move forward, so the player bar shows a track mid-way."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _after(signal: SignalInstance, action: Callable[[], object]) -> None:
    """Do ``action`` and wait until ``signal`` fires (or give up after WAIT_MS)."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(WAIT_MS, loop.quit)
    action()
    loop.exec()
    signal.disconnect(loop.quit)


def _settle() -> None:
    loop = QEventLoop()
    QTimer.singleShot(150, loop.quit)
    loop.exec()


class _Shooter:
    def __init__(self, folder: Path, recording: Recording, language: str) -> None:
        self.folder = folder
        self.recording = recording
        self.suffix = "" if language == "en" else f"-{language}"
        self.gateway = RecordedGateway(recording)
        self.clock = _FakeMonotonic()
        self._home = tempfile.TemporaryDirectory(prefix="bluetrack-shots-")
        self.client = Client(
            self.gateway,
            Path(self._home.name),
            language=language,
            request_timeout_s=5.0,
            retry_s=60.0,
            player=Player(monotonic=self.clock),
        )
        self.window = self.client.window
        self.controller = self.client.controller
        self.saved: list[Path] = []

    def shoot(self, name: str) -> None:
        _settle()
        path = self.folder / f"{name}{self.suffix}.png"
        self.window.grab().save(str(path), "PNG", 0)  # 0: smallest file
        self.saved.append(path)

    def run(self) -> list[Path]:
        self.window.resize(SHOT_SIZE)
        self.client.start()
        self.login_page()
        self.register_page()
        self.main_page()
        self.offline_page()
        self.client.close()
        self._home.cleanup()
        return self.saved

    def login_page(self) -> None:
        """The log-in page as it looks after a wrong password: the server's reply in words."""
        page = self.window.login_page
        page.prefill("ada")
        page.password.edit.setText("not-my-password")
        page.remember.setChecked(True)
        refusal = self.recording.error("login_user_response.invalid_credentials")
        self.gateway.fail_next("login", refusal)
        _after(self.controller.requests.failed, page.submit_button.click)
        self.shoot("login")

    def register_page(self) -> None:
        page = self.window.register_page
        self.window.show_page(page)
        page.username.edit.setText("ada")
        page.email.edit.setText("ada@example.com")
        page.password.edit.setText("secret")
        page.password.validate()
        page.password.edit.setFocus()
        self.shoot("register")

    def main_page(self) -> None:
        page = self.window.login_page
        self.window.show_page(page)
        page.password.edit.setText("correct horse battery")
        _after(self.controller.shelves_loaded, page.submit_button.click)
        charts = self.recording.charts()
        _after(self.controller.chart_received, lambda: self.gateway.publish_chart(charts[-1]))
        tile = self.window.main_page.shelves.tiles()[1]
        tile.setFocus()
        _after(self.controller.play_sent, lambda: tile.toggled.emit(tile.track, tile.genre))
        self.clock.now += 83.4  # a minute and a bit into the track
        self.controller.player.progressed.emit(
            self.controller.player.elapsed_ms(), tile.track.duration_ms
        )
        self.shoot("main")

    def offline_page(self) -> None:
        self.window.main_page.chart.select("trending")
        outage = GatewayError(FailureKind.UNAVAILABLE, "Kafka is not reachable")
        _after(self.controller.status_changed, lambda: self.gateway.break_chart_feed(outage))
        self.shoot("main-trending-offline")


def take_screenshots(
    folder: Path, recording_dir: Path = DEFAULT_RECORDING, languages: tuple[str, ...] = ("en",)
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    recording = Recording(recording_dir)
    saved: list[Path] = []
    for language in languages:
        saved += _Shooter(folder, recording, language).run()
    return saved
