"""Building and running the desktop client."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTranslator
from PySide6.QtWidgets import QApplication

from bluetrack.client.controller import ClientController
from bluetrack.client.gateway import BusGateway, Gateway
from bluetrack.client.i18n import choose_language, install_translators
from bluetrack.client.player import Player
from bluetrack.client.session_store import SessionStore
from bluetrack.client.views.main_window import MainWindow
from bluetrack.config import Settings, get_settings


def application() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    app = QApplication(sys.argv[:1])
    app.setApplicationName("BlueTrack")
    app.setOrganizationName("BlueTrack")
    app.setStyle("Fusion")  # the same look on every platform, and what the stylesheet assumes
    return app


class Client:
    """A window and its controller, built in the right order: translations first, since
    every widget translates its text when it is made."""

    def __init__(
        self,
        gateway: Gateway,
        config_dir: Path,
        *,
        language: str,
        request_timeout_s: float,
        retry_s: float = 5.0,
        player: Player | None = None,
    ) -> None:
        self.app = application()
        self.translators: list[QTranslator] = install_translators(self.app, language)
        self.window = MainWindow()
        self.controller = ClientController(
            gateway,
            SessionStore(config_dir),
            self.window,
            request_timeout_s=request_timeout_s,
            retry_s=retry_s,
            player=player,
        )

    def start(self) -> None:
        self.window.show()
        self.controller.start()

    def close(self) -> None:
        self.controller.shutdown()
        self.window.close()
        for translator in self.translators:
            self.app.removeTranslator(translator)


def run_client(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    client = Client(
        BusGateway(settings),
        settings.config_dir,
        language=choose_language(settings.language),
        request_timeout_s=settings.request_timeout_s,
    )
    client.app.aboutToQuit.connect(client.controller.shutdown)
    client.start()
    return client.app.exec()
