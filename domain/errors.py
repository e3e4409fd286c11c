"""Typed domain errors.

Every refusal names what was refused and why, so the API and the CLI can show it as is.
Each class carries a stable ``code`` that the HTTP layer maps to one status.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal the domain makes."""

    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class IllegalTransition(DomainError):
    """An action that the ticket's current state does not allow."""

    code = "illegal_transition"

    def __init__(
        self, *, kind: str, ticket: str, state: str, action: str, reason: str = ""
    ) -> None:
        why = f": {reason}" if reason else ""
        super().__init__(
            f"{kind} {ticket} is {state}; cannot {action}{why}",
            ticket=ticket,
            state=state,
            action=action,
        )


class InvariantViolated(DomainError):
    """A rule such as 有答复有结果 (no closure without reply and answer) would be broken."""

    code = "invariant_violated"

    def __init__(self, *, kind: str, ticket: str, state: str, action: str, rule: str) -> None:
        super().__init__(
            f"{kind} {ticket} is {state}; cannot {action}: {rule}",
            ticket=ticket,
            state=state,
            action=action,
            rule=rule,
        )


class InvalidValue(DomainError):
    """A field value the domain refuses (e.g. satisfaction outside 1-5)."""

    code = "invalid_value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


class NotFound(DomainError):
    """The addressed aggregate does not exist."""

    code = "not_found"

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident} not found", what=what, id=ident)


class VersionConflict(DomainError):
    """The caller's expected version is stale, or another writer won the race."""

    code = "version_conflict"

    def __init__(self, *, ticket: str, expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"{ticket} changed: expected version {expected}, current version {actual}",
            ticket=ticket,
            expected=expected,
            actual=actual,
        )


class UnknownDepartment(DomainError):
    """A department id that the org directory does not know at that date."""

    code = "unknown_department"

    def __init__(self, department: str, at: str = "") -> None:
        when = f" on {at}" if at else ""
        super().__init__(f"unknown department {department!r}{when}", department=department)


class PolicyNotFound(DomainError):
    """No SLA policy in the catalogue matches the ticket's facts."""

    code = "policy_not_found"

    def __init__(self, facts: str) -> None:
        super().__init__(f"no SLA policy matches {facts}", facts=facts)


class CalendarError(DomainError):
    """A business calendar cannot answer (unknown id or version, no working time at all)."""

    code = "calendar_error"


class AmbiguousPolicy(DomainError):
    """Two or more SLA policies match a ticket equally well (same specificity and rank)."""

    code = "ambiguous_policy"

    def __init__(self, facts: str, candidates: list[str]) -> None:
        names = " and ".join(candidates)
        super().__init__(
            f"SLA policies {names} match {facts} equally (same specificity and rank)",
            facts=facts,
            candidates=candidates,
        )


class ClockError(DomainError):
    """A milestone clock operation that its state refuses (pause a paused clock, resume a
    running one, stop a stopped one, or an instant before the clock started)."""

    code = "clock_error"

    def __init__(self, milestone: str, message: str) -> None:
        super().__init__(f"milestone {milestone}: {message}", milestone=milestone)
