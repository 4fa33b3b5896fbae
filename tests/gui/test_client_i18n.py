"""The Polish translation is complete and the committed .qm files are compiled from the .ts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import bluetrack.client
from bluetrack.client.i18n import I18N_DIR

pytestmark = pytest.mark.gui

CLIENT_DIR = Path(bluetrack.client.__file__).parent
TOOLS = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(TOOLS)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _messages(ts: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(ts).getroot()
    return {
        (context.findtext("name", ""), message.findtext("source", "")): message
        for context in root.iter("context")
        for message in context.iter("message")
    }


def _finished(message: ET.Element) -> bool:
    translation = message.find("translation")
    return translation is not None and translation.get("type") not in {
        "unfinished",
        "obsolete",
        "vanished",
    }


def _extract(tmp_path: Path, *extra: str) -> Path:
    sources = sorted(str(p) for p in CLIENT_DIR.rglob("*.py"))
    out = tmp_path / "extracted.ts"
    subprocess.run(
        [_tool("pyside6-lupdate"), *sources, *extra, "-ts", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_every_text_in_the_code_has_a_finished_polish_translation(tmp_path: Path) -> None:
    in_code = set(_messages(_extract(tmp_path)))
    translated = _messages(I18N_DIR / "bluetrack_pl.ts")
    assert in_code - set(translated) == set(), "run lupdate and translate the new texts"
    unfinished = [key for key, message in translated.items() if not _finished(message)]
    assert unfinished == []


def test_english_plural_forms_cover_every_plural_text(tmp_path: Path) -> None:
    plurals = set(_messages(_extract(tmp_path, "-pluralonly")))
    assert plurals <= set(_messages(I18N_DIR / "bluetrack_en.ts"))


@pytest.mark.parametrize("language", ["pl", "en"])
def test_the_committed_qm_is_compiled_from_the_ts(tmp_path: Path, language: str) -> None:
    fresh = tmp_path / f"bluetrack_{language}.qm"
    subprocess.run(
        [_tool("pyside6-lrelease"), str(I18N_DIR / f"bluetrack_{language}.ts"), "-qm", str(fresh)],
        check=True,
        capture_output=True,
    )
    assert fresh.read_bytes() == (I18N_DIR / f"bluetrack_{language}.qm").read_bytes()
