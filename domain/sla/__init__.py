"""SLA: business time (calendar), policies as data (policy) and milestone clocks (clock).

Pure arithmetic over explicit instants; holiday data comes from maintained packages
(``chinese_calendar``, ``holidays``), policy data is loaded by ``bootstrap.catalogue``.
"""

from domain.sla.calendar import (
    Always,
    BusinessCalendar,
    CalendarSpec,
    Clock,
    build_calendar,
    ensure_aware,
)
from domain.sla.clock import (
    MilestoneClock,
    Pause,
    due_at,
    instant_of_fraction,
    is_paused,
    pause,
    remaining_seconds,
    resume,
    state,
    stop,
    used_seconds,
)
from domain.sla.policy import (
    FACTS,
    EscalationStep,
    MilestoneSpec,
    PolicyCatalogue,
    PolicyMatch,
    SlaPolicy,
    TicketFacts,
    parse_duration,
)

__all__ = [
    "FACTS",
    "Always",
    "BusinessCalendar",
    "CalendarSpec",
    "Clock",
    "EscalationStep",
    "MilestoneClock",
    "MilestoneSpec",
    "Pause",
    "PolicyCatalogue",
    "PolicyMatch",
    "SlaPolicy",
    "TicketFacts",
    "build_calendar",
    "due_at",
    "ensure_aware",
    "instant_of_fraction",
    "is_paused",
    "parse_duration",
    "pause",
    "remaining_seconds",
    "resume",
    "state",
    "stop",
    "used_seconds",
]
