"""`bluetrack screenshots DIR` writes a PNG of every page, with no stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_support import RECORDED
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from bluetrack.client.screenshots import SHOT_SIZE, take_screenshots

pytestmark = pytest.mark.gui


def test_screenshots_of_every_page(qtbot: QtBot, tmp_path: Path) -> None:
    saved = take_screenshots(tmp_path, RECORDED, ("en", "pl"))
    assert sorted(p.name for p in saved) == sorted(
        f"{page}{suffix}.png"
        for page in ("login", "register", "main", "main-trending-offline")
        for suffix in ("", "-pl")
    )
    for path in saved:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (SHOT_SIZE.width(), SHOT_SIZE.height())
        assert 20_000 < path.stat().st_size < 400_000  # a real picture, and a small file
