"""Commands handled, and aggregates kept, by domain modules beside the desk's own.

A module that brings its own aggregate and commands (an assessment month, an outage incident, a
survey, ...) registers its command handlers here with :func:`handles` and its aggregate classes
in :data:`AGGREGATES`; ``Desk.handle`` dispatches a command it does not know itself to the
handler registered for its class. ``domain/desk.py`` imports those modules (at its end), so the
registrations exist whenever a desk does. A handler receives the desk and the command and
returns the desk's ``Outcome``; it must not import ``domain.desk`` (the room stays acyclic):
the desk's helpers come with the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, Any], Any]

HANDLERS: dict[type, Handler] = {}
AGGREGATES: list[type] = []
IntakeHook = Callable[[Any, Any, Any, bool], list[Any]]
# ``hook(desk, ticket, meta, new_customer) -> [aggregate, ...]``: run by ``Desk.receive`` after
# the new ticket bound its SLA policy (``new_customer``: the intake registers its caller); it
# may record events on the ticket and returns other aggregates it changed, saved in the
# intake's own write.
INTAKE_HOOKS: list[IntakeHook] = []


def handles(*commands: type) -> Callable[[Handler], Handler]:
    """Register the decorated ``handler(desk, cmd) -> Outcome`` for each command class."""

    def register(handler: Handler) -> Handler:
        for command in commands:
            if command in HANDLERS:
                raise ValueError(f"{command.__name__} has a handler already")
            HANDLERS[command] = handler
        return handler

    return register


def aggregate(cls: type) -> type:
    """Class decorator: name an aggregate of a module (for catalogues and checks over all)."""
    AGGREGATES.append(cls)
    return cls
