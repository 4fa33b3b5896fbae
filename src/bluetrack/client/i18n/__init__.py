"""Translations: English in the source, Polish in bluetrack_pl.qm (compiled from the .ts).

bluetrack_en.qm holds only English plural forms ("1 track", "2 tracks"), as Qt advises.

Regenerate after changing user-visible text (see docs/client.md):
  pyside6-lupdate src/bluetrack/client -extensions py -ts src/bluetrack/client/i18n/bluetrack_pl.ts
  pyside6-lrelease src/bluetrack/client/i18n/bluetrack_pl.ts
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("en", "pl")
DEFAULT_LANGUAGE = "en"


def choose_language(configured: str | None, locale: QLocale | None = None) -> str:
    """settings.language when set, else the system locale, else English."""
    if configured:
        wanted = configured.lower().replace("-", "_").split("_")[0]
        return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE
    name = (locale or QLocale.system()).name().split("_")[0]
    return name if name in LANGUAGES else DEFAULT_LANGUAGE


def install_translators(app: QCoreApplication, language: str) -> list[QTranslator]:
    """Install ours and Qt's own (for standard dialogs); keep the result alive."""
    installed = []
    ours = QTranslator(app)
    if ours.load(str(I18N_DIR / f"bluetrack_{language}.qm")):
        app.installTranslator(ours)
        installed.append(ours)
    qt_own = QTranslator(app)
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if qt_own.load(f"qtbase_{language}", qt_dir):
        app.installTranslator(qt_own)
        installed.append(qt_own)
    return installed


def remove_translators(app: QCoreApplication, translators: list[QTranslator]) -> None:
    for translator in translators:
        app.removeTranslator(translator)
