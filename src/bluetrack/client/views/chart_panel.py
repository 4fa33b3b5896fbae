"""The live Top-5 genres panel: a bar chart that switches between now, trending, all time."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
)

from bluetrack.client.views.style import ACCENT, MUTED, genre_label
from bluetrack.client.views.widgets import label, named
from bluetrack.protocol.charts import ChartMessage, Ranking

RANKINGS = ("now", "trending", "all_time")


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


class ChartPanel(QFrame):
    chart_shown = Signal(object)  # the ChartMessage now on screen
    ranking_changed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("chartPanel")
        self.setMinimumWidth(300)
        self.chart: ChartMessage | None = None
        self.ranking = "now"
        self.caption = label("", "chartCaption", wrap=True)
        self.placeholder = label("", "chartCaption", wrap=True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view = QChartView()
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setStyleSheet("background: transparent")
        self.view.setMinimumHeight(220)
        self.buttons = self._segments()
        self._stack = QStackedLayout()
        self._stack.addWidget(self.placeholder)
        self._stack.addWidget(self.view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(10)
        layout.addWidget(label(self.tr("Top 5 genres"), "chartTitle"))
        row = QHBoxLayout()
        row.setSpacing(6)
        for button in self.buttons.buttons():
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addLayout(self._stack, 1)
        layout.addWidget(self.caption)
        self._redraw()

    def _segments(self) -> QButtonGroup:
        group = QButtonGroup(self)
        labels = {
            "now": self.tr("Now"),
            "trending": self.tr("Trending"),
            "all_time": self.tr("All time"),
        }
        for name in RANKINGS:
            button = named(QPushButton(labels[name]), "segment")
            button.setCheckable(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setProperty("ranking", name)
            button.setChecked(name == self.ranking)
            group.addButton(button)
        group.buttonClicked.connect(lambda button: self.select(button.property("ranking")))
        return group

    def select(self, ranking: str) -> None:
        if ranking not in RANKINGS:
            raise ValueError(f"unknown ranking {ranking!r}")
        self.ranking = ranking
        for button in self.buttons.buttons():
            button.setChecked(button.property("ranking") == ranking)
        self._redraw()
        self.ranking_changed.emit(ranking)

    def show_chart(self, chart: ChartMessage) -> None:
        self.chart = chart
        self._redraw()
        self.chart_shown.emit(chart)

    def clear(self) -> None:
        self.chart = None
        self._redraw()

    def current_ranking(self) -> Ranking | None:
        return getattr(self.chart, self.ranking) if self.chart else None

    def _redraw(self) -> None:
        ranking = self.current_ranking()
        if self.chart is None or ranking is None:
            self._show_placeholder(self.tr("Waiting for the first chart…"), "")
            return
        caption = self.tr("Computed at %1").replace("%1", _clock(self.chart.computed_at))
        if self.ranking == "trending" and ranking.window_start and ranking.window_end:
            window = self.tr("window %1–%2")
            window = window.replace("%1", _clock(ranking.window_start))
            caption += " · " + window.replace("%2", _clock(ranking.window_end))
        if not ranking.entries:
            empty = {
                "now": self.tr("Nobody is listening right now."),
                "trending": self.tr("No plays counted in this window yet."),
                "all_time": self.tr("No plays counted yet."),
            }
            self._show_placeholder(empty[self.ranking], caption)
            return
        previous = self.view.chart()
        self.view.setChart(_bar_chart(ranking))
        previous.deleteLater()  # the view releases, but does not delete, the chart it had
        self.caption.setText(caption)
        self._stack.setCurrentWidget(self.view)

    def _show_placeholder(self, text: str, caption: str) -> None:
        self.placeholder.setText(text)
        self.caption.setText(caption)
        self._stack.setCurrentWidget(self.placeholder)

    def genres_shown(self) -> list[str]:
        ranking = self.current_ranking()
        return [entry.genre for entry in ranking.entries] if ranking else []


def _bar_chart(ranking: Ranking) -> QChart:
    """Horizontal bars, the top genre on top, each labelled with its count."""
    entries = list(reversed(ranking.entries))  # Qt draws the first category at the bottom
    bars = QBarSet("")
    bars.append([float(entry.count) for entry in entries])
    bars.setColor(QColor(ACCENT))
    bars.setBorderColor(QColor(ACCENT))
    bars.setLabelColor(QColor("white"))
    series = QHorizontalBarSeries()
    series.append(bars)
    series.setBarWidth(0.62)
    series.setLabelsVisible(True)
    series.setLabelsPosition(QHorizontalBarSeries.LabelsPosition.LabelsInsideEnd)
    series.setLabelsFormat("@value")
    chart = QChart()
    chart.addSeries(series)
    chart.legend().hide()
    chart.setBackgroundVisible(False)
    chart.setMargins(QMargins(0, 0, 0, 0))
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    genres = QBarCategoryAxis()
    genres.append([genre_label(entry.genre) for entry in entries])
    genres.setGridLineVisible(False)
    genres.setLineVisible(False)
    label_font = QFont()
    label_font.setPointSize(10)
    label_font.setBold(True)
    genres.setLabelsFont(label_font)
    counts = QValueAxis()
    top = max(entry.count for entry in entries)
    counts.setRange(0, max(4, top))
    counts.setTickCount(5)
    counts.applyNiceNumbers()  # round ticks (0, 100, 200...) rather than 0, 148, 296
    counts.setLabelFormat("%d")
    counts.setLabelsColor(QColor(MUTED))
    counts.setGridLineColor(QColor("#e2e8f0"))
    counts.setLineVisible(False)
    chart.addAxis(genres, Qt.AlignmentFlag.AlignLeft)
    chart.addAxis(counts, Qt.AlignmentFlag.AlignBottom)
    series.attachAxis(genres)
    series.attachAxis(counts)
    return chart
