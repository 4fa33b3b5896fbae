"""One stylesheet for the whole app: a dark sidebar and player bar around light content."""

from __future__ import annotations

ACCENT = "#3b82f6"
ACCENT_DARK = "#2563eb"
INK = "#0f172a"
SIDEBAR = "#0b1220"
MUTED = "#64748b"
SURFACE = "#f1f5f9"
CARD = "#ffffff"
ERROR = "#dc2626"
OK = "#16a34a"
CHART_COLOURS = ("#3b82f6", "#6366f1", "#06b6d4", "#10b981", "#f59e0b")

STYLESHEET = f"""
QWidget {{ font-size: 13px; color: {INK}; }}
QMainWindow, #content {{ background: {SURFACE}; }}

/* --- brand panel and forms (register / log in) --- */
#brandPanel {{
    background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 {SIDEBAR}, stop:1 #1e3a8a);
}}
#brandPanel QLabel {{ color: #e2e8f0; }}
#brandTitle {{ font-size: 34px; font-weight: 700; color: white; }}
#brandTagline {{ font-size: 16px; color: #cbd5e1; }}
#formCard {{ background: {CARD}; border-radius: 14px; }}
#formTitle {{ font-size: 24px; font-weight: 700; }}
#formSubtitle {{ color: {MUTED}; }}
#fieldLabel {{ font-weight: 600; color: #334155; }}
#fieldError {{ color: {ERROR}; font-size: 12px; }}
#formError {{
    color: {ERROR}; background: #fef2f2; border: 1px solid #fecaca;
    border-radius: 8px; padding: 8px;
}}
#formNotice {{
    color: #166534; background: #f0fdf4; border: 1px solid #bbf7d0;
    border-radius: 8px; padding: 8px;
}}
QLineEdit {{
    border: 1px solid #cbd5e1; border-radius: 8px; padding: 8px 10px; background: white;
}}
QLineEdit:focus {{ border: 2px solid {ACCENT}; padding: 7px 9px; }}
QLineEdit[invalid="true"] {{ border: 2px solid {ERROR}; padding: 7px 9px; }}
QPushButton#primary {{
    background: {ACCENT}; color: white; border: none; border-radius: 8px;
    padding: 10px 16px; font-weight: 600;
}}
QPushButton#primary:hover {{ background: {ACCENT_DARK}; }}
QPushButton#primary:focus {{ border: 2px solid #93c5fd; }}
QPushButton#primary:disabled {{ background: #93c5fd; }}
QPushButton#link {{
    background: transparent; border: none; color: {ACCENT_DARK}; font-weight: 600;
    text-align: left; padding: 4px 0;
}}
QPushButton#link:focus {{ text-decoration: underline; }}

/* --- sidebar --- */
#sidebar {{ background: {SIDEBAR}; }}
#sidebar QLabel {{ color: #cbd5e1; }}
#sidebarBrand {{ font-size: 22px; font-weight: 700; color: white; }}
#sidebarUser {{ font-size: 14px; font-weight: 600; color: white; }}
#sidebar QPushButton {{
    background: #1e293b; color: #e2e8f0; border: none; border-radius: 8px;
    padding: 9px 12px; text-align: left; font-weight: 600;
}}
#sidebar QPushButton:hover {{ background: #334155; }}
#sidebar QPushButton:focus {{ border: 2px solid {ACCENT}; }}

/* --- shelves and tiles --- */
#pageTitle {{ font-size: 22px; font-weight: 700; }}
#shelfTitle {{ font-size: 16px; font-weight: 700; color: {INK}; }}
#shelfCount {{ color: {MUTED}; }}
QScrollArea {{ border: none; background: transparent; }}
#shelfStrip, #shelvesBody {{ background: transparent; }}
#tile {{ background: {CARD}; border: 1px solid #e2e8f0; border-radius: 12px; }}
#tile:hover {{ border: 1px solid #93c5fd; }}
#tile:focus {{ border: 2px solid {ACCENT}; }}
#tile[playing="true"] {{ background: #eff6ff; border: 2px solid {ACCENT}; }}
#tileTitle {{ font-weight: 700; font-size: 13px; }}
#tileArtists {{ color: {MUTED}; font-size: 12px; }}
#tileDuration {{ color: {MUTED}; font-size: 12px; }}
QToolButton#tilePlay {{
    background: {ACCENT}; color: white; border: none; border-radius: 16px;
    font-size: 13px; font-weight: 700;
}}
QToolButton#tilePlay:hover {{ background: {ACCENT_DARK}; }}
#emptyShelves {{ color: {MUTED}; font-size: 15px; }}

/* --- chart panel --- */
#chartPanel {{ background: {CARD}; border-radius: 14px; }}
#chartTitle {{ font-size: 16px; font-weight: 700; }}
#chartCaption {{ color: {MUTED}; font-size: 12px; }}
QPushButton#segment {{
    background: {SURFACE}; border: 1px solid #e2e8f0; padding: 6px 10px; border-radius: 8px;
    color: #334155; font-weight: 600;
}}
QPushButton#segment:checked {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT}; }}
QPushButton#segment:focus {{ border: 2px solid #93c5fd; }}

/* --- player bar --- */
#playerBar {{ background: {INK}; }}
#playerBar QLabel {{ color: #e2e8f0; }}
#playerTitle {{ font-weight: 700; font-size: 14px; color: white; }}
#playerArtists {{ color: #94a3b8; font-size: 12px; }}
#playerTime {{ color: #94a3b8; font-family: monospace; }}
QToolButton#playerStop {{
    background: white; color: {INK}; border: none; border-radius: 18px; font-weight: 700;
}}
QToolButton#playerStop:disabled {{ background: #334155; color: #64748b; }}
QProgressBar {{ background: #334155; border: none; border-radius: 3px; max-height: 6px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}

/* --- scroll bars: thin and quiet --- */
QScrollBar:horizontal {{ height: 8px; background: transparent; margin: 0 2px; }}
QScrollBar:vertical {{ width: 8px; background: transparent; margin: 2px 0; }}
QScrollBar::handle {{ background: #cbd5e1; border-radius: 4px; min-width: 32px; min-height: 32px; }}
QScrollBar::handle:hover {{ background: #94a3b8; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}

/* --- status line --- */
QStatusBar {{ background: #e2e8f0; color: #334155; }}
QStatusBar::item {{ border: none; }}
QLabel#statusText {{ padding: 2px 10px; color: {OK}; font-weight: 600; }}
QLabel#statusText[trouble="true"] {{ color: {ERROR}; }}
"""


def format_duration(ms: int) -> str:
    """3:07, or 1:02:03 past an hour."""
    seconds = max(0, ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Dataset genres are slugs ("drum-and-bass", "r-n-b"); these do not title-case well.
_GENRE_LABELS = {
    "edm": "EDM",
    "mpb": "MPB",
    "idm": "IDM",
    "r-n-b": "R&B",
    "rock-n-roll": "Rock 'n' Roll",
    "j-pop": "J-Pop",
    "j-rock": "J-Rock",
    "j-dance": "J-Dance",
    "j-idol": "J-Idol",
    "k-pop": "K-Pop",
    "hip-hop": "Hip-Hop",
    "trip-hop": "Trip-Hop",
}


def genre_label(genre: str) -> str:
    """A genre slug as people write it: "drum-and-bass" -> "Drum and Bass", "edm" -> "EDM"."""
    if genre in _GENRE_LABELS:
        return _GENRE_LABELS[genre]
    small = {"and", "n"}
    words = genre.replace("-", " ").split()
    return " ".join(w if w in small else w.capitalize() for w in words)
