"""Year-end feedback summary (年终总结): a year's top complaint categories as CAPA sources.

Pure read side, like ``projections/reports.py``: :func:`year_end_summary` is a function of the
rows of ``survey_complaint_sources`` (view ``surveys``: one per complaint, closed ones
included), the year and how many categories to list. A complaint counts in the year of its
intake in business time (``received_at``), in the hotline's local time (Asia/Shanghai): a call
at 2026-01-01 00:30 Beijing time counts in 2026 although it was 2025 in UTC. Its category is
the one it holds now (a reclassification corrects the intake's). Categories rank by count, most
first; equal counts by category code. Each listed category is a source of corrective and
preventive actions for the following year.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from projections.core import Row
from projections.ticket_facts import instant

SHANGHAI = ZoneInfo("Asia/Shanghai")
SOURCE_VIEW = "surveys"
SOURCE_TABLE = "survey_complaint_sources"
UNCLASSIFIED = "unclassified"
DEFAULT_TOP = 5


def local_year(at: datetime) -> int:
    return at.astimezone(SHANGHAI).year


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The year's first instant and the next year's, in the hotline's local time."""
    return datetime(year, 1, 1, tzinfo=SHANGHAI), datetime(year + 1, 1, 1, tzinfo=SHANGHAI)


def year_end_summary(rows: Iterable[Row], year: int, top: int = DEFAULT_TOP) -> dict[str, Any]:
    """The year's complaints by category, the ``top`` most frequent as next year's CAPA sources.

    Returns ``{"year", "complaints", "categories": [{"rank", "category", "count", "share"}],
    "capa_sources": [{"for_year", "category", "count", "source"}]}``; ``share`` is the
    category's percentage of the year's complaints, rounded to 0.1.
    """
    counts: Counter[str | None] = Counter()
    for row in rows:
        if row.get("kind") != "complaint":
            continue
        received = instant(row.get("received_at"))
        if received is not None and local_year(received) == year:
            counts[row.get("category")] += 1
    return summary_of_counts(counts, year, top)


def summary_of_counts(
    by_category: Mapping[str | None, int], year: int, top: int = DEFAULT_TOP
) -> dict[str, Any]:
    """:func:`year_end_summary` from the year's complaint counts by category (None: none)."""
    if top < 1:
        raise ValueError("top must be at least 1")
    counts: Counter[str] = Counter()
    for category, count in by_category.items():
        counts[category or UNCLASSIFIED] += count
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    categories = [
        {
            "rank": rank,
            "category": category,
            "count": count,
            "share": round(count * 100 / total, 1),
        }
        for rank, (category, count) in enumerate(ranked, start=1)
    ]
    sources = [
        {
            "for_year": year + 1,
            "category": c["category"],
            "count": c["count"],
            "source": f"{year} complaints: {c['category']} ×{c['count']} (rank {c['rank']})",
        }
        for c in categories[:top]
    ]
    return {"year": year, "complaints": total, "categories": categories, "capa_sources": sources}
