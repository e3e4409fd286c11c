"""The outage suggestion rule: when fault calls from one feeder look like one outage.

Shown to the agent at intake (it never links anything itself): the open incidents of the
caller's area and feeder, and clusters of fault calls not yet linked to any incident, from
the same area and feeder, at least ``min_calls`` of them received within ``window`` up to the
instant asked about. Pure: the calls and incidents come in as values, the instant as an argument.

The numbers are casetrail's defaults (the sources give none); a deployment sets its own in
``config/data/outage_rule.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_MIN_CALLS = 3  # default: three calls ...
DEFAULT_WINDOW = timedelta(minutes=30)  # default: ... within thirty minutes


@dataclass(frozen=True)
class SuggestionRule:
    """At least ``min_calls`` unlinked fault calls from one feeder within ``window``."""

    min_calls: int = DEFAULT_MIN_CALLS
    window: timedelta = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.min_calls < 2:
            raise ValueError(f"min_calls must be at least 2, got {self.min_calls}")
        if self.window <= timedelta(0):
            raise ValueError(f"window must be positive, got {self.window}")


@dataclass(frozen=True)
class FaultCall:
    """A fault repair ticket as the rule sees it."""

    ticket_id: str
    number: str
    area: str
    feeder: str | None
    received_at: datetime
    incident_id: str | None = None  # linked to an incident already
    open: bool = True


@dataclass(frozen=True)
class OpenIncident:
    """An incident not yet restored, as the rule sees it."""

    incident_id: str
    number: str
    area: str
    feeder: str
    started_at: datetime


@dataclass(frozen=True)
class Suggestion:
    """What the agent is shown: matching open incidents, and a cluster of unlinked calls."""

    incidents: tuple[OpenIncident, ...]
    cluster: tuple[FaultCall, ...]  # oldest first; empty when below the rule's threshold
    window_start: datetime
    rule: SuggestionRule

    @property
    def any(self) -> bool:
        return bool(self.incidents or self.cluster)


def suggest(
    calls: list[FaultCall],
    incidents: list[OpenIncident],
    *,
    area: str,
    feeder: str,
    at: datetime,
    rule: SuggestionRule = SuggestionRule(),
) -> Suggestion:
    """The suggestion for a call from ``area``/``feeder`` at ``at``.

    A call counts when it is open, unlinked, from the same area and feeder, and received in
    ``[at - window, at]`` (both ends included: the third call 29:59 after the first suggests,
    one 30:01 after does not). Calls received after ``at`` are not known then.
    """
    start = at - rule.window
    cluster = sorted(
        (
            call
            for call in calls
            if call.open
            and call.incident_id is None
            and call.area == area
            and call.feeder == feeder
            and start <= call.received_at <= at
        ),
        key=lambda call: (call.received_at, call.number),
    )
    matching = sorted(
        (i for i in incidents if i.area == area and i.feeder == feeder and i.started_at <= at),
        key=lambda i: (i.started_at, i.number),
    )
    return Suggestion(
        incidents=tuple(matching),
        cluster=tuple(cluster) if len(cluster) >= rule.min_calls else (),
        window_start=start,
        rule=rule,
    )
