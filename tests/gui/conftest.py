"""GUI fixtures: the client built on a RecordedGateway that replays tests/gui/recorded/.

Everything runs offscreen (tests/conftest.py sets QT_QPA_PLATFORM) and waits on signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gui_support import RECORDED, ManualClock
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from bluetrack.client.app import Client
from bluetrack.client.i18n import install_translators, remove_translators
from bluetrack.client.player import Player
from bluetrack.client.recorded import RecordedGateway, Recording


@pytest.fixture
def english(qapp: QApplication) -> Iterator[None]:
    """The English translator (plural forms only), as the app installs it."""
    translators = install_translators(qapp, "en")
    yield
    remove_translators(qapp, translators)


@pytest.fixture(scope="session")
def recording() -> Recording:
    return Recording(RECORDED)


@pytest.fixture
def gateway(recording: Recording) -> RecordedGateway:
    return RecordedGateway(recording)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "config" / "bluetrack"


@pytest.fixture
def make_client(
    qtbot: QtBot, gateway: RecordedGateway, clock: ManualClock, config_dir: Path
) -> Iterator[Callable[..., Client]]:
    """Factory: make_client(language="en") builds (and later closes) a client."""
    made: list[Client] = []

    def make(language: str = "en", **kwargs: object) -> Client:
        options: dict[str, object] = {
            "language": language,
            "request_timeout_s": 2.0,
            "retry_s": 0.2,
            "player": Player(monotonic=clock),
        }
        options.update(kwargs)
        client = Client(gateway, config_dir, **options)  # type: ignore[arg-type]
        qtbot.addWidget(client.window)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    """An English client, started: it shows the log-in page."""
    made = make_client()
    made.start()
    return made
