"""The overview's chart: processed and failed tasks per hour of the last day, as SVG geometry.

Drawn on the server (the template writes the shapes), so the page needs no chart library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

HOURS = 24
WIDTH, HEIGHT = 720, 180
#: room for the hour labels below the bars and the scale on the left
BOTTOM, LEFT = 20, 40


@dataclass(frozen=True)
class Bar:
    """One hour: its label, its counts, and where its two stacked bars go."""

    label: str
    x: float
    width: float
    processed: int
    failed: int
    processed_y: float
    processed_height: float
    failed_y: float
    failed_height: float
    show_label: bool


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: int = HEIGHT - BOTTOM

    @property
    def total_processed(self) -> int:
        return sum(bar.processed for bar in self.bars)

    @property
    def total_failed(self) -> int:
        return sum(bar.failed for bar in self.bars)


def hours_ending(now: datetime) -> list[datetime]:
    """The starts of the last :data:`HOURS` hours, the current one last."""
    current = now.replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=back) for back in range(HOURS - 1, -1, -1)]


def chart(counts: Mapping[tuple[str, str], int], now: datetime) -> Chart:
    """Stacked bars from ``store.finished_per_hour`` counts (keys: ``YYYY-MM-DDTHH``, status)."""
    hours = hours_ending(now)
    key = [hour.strftime("%Y-%m-%dT%H") for hour in hours]
    peak = max([counts.get((k, "processed"), 0) + counts.get((k, "failed"), 0) for k in key] + [1])
    plot = HEIGHT - BOTTOM - 10
    slot = (WIDTH - LEFT) / HOURS
    bars = []
    for index, (hour, k) in enumerate(zip(hours, key)):
        processed, failed = counts.get((k, "processed"), 0), counts.get((k, "failed"), 0)
        processed_height, failed_height = plot * processed / peak, plot * failed / peak
        base = HEIGHT - BOTTOM
        bars.append(Bar(label=hour.strftime("%H:00"), x=LEFT + index * slot + 2, width=slot - 4,
                        processed=processed, failed=failed,
                        processed_y=base - processed_height, processed_height=processed_height,
                        failed_y=base - processed_height - failed_height, failed_height=failed_height,
                        show_label=index % 3 == 2))
    return Chart(bars=bars, peak=peak)
