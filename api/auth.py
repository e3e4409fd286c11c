"""What a caller may do: roles, departments, personal data (the caller comes from ``api/deps.py``).

Authentication (``api/deps.py``): ``Authorization: Bearer <token>``; the token is looked up (by
its sha256) in the users file (``api/users.py``). No header, another scheme or an unknown
token -> 401 ``unauthenticated``. An auditor's request with any method other than
GET/HEAD/OPTIONS -> 403 ``read_only_role``, whatever the route (:func:`require_method`).

Authorisation (403 ``forbidden`` otherwise). Departments are compared as they stand *now* in the
org directory: both the user's and the ticket's department are followed through reorganisations
(``directory.successor``), and a department covers the departments under it (a station's agent
acts on its groups' work orders). The *front office* is ``directory.front_office(now)``
(客户服务中心; after the merger 营销部(客户服务中心)): it owns the customer end to end (一口对外).

- agent: intake of any ticket; ticket actions in :data:`AGENT_ACTIONS` on tickets whose
  department is theirs (or under theirs), on every ticket when in the front office; callbacks
  when in the front office; register customers.
- supervisor: every agent action on any department's ticket, plus :data:`SUPERVISOR_ACTIONS`
  (urge 催办, supervise 督办, escalate, transfer, hand_over, rebind_sla); callbacks; register
  and grade customers, name account managers.
- monitor: every read; the SLA clock's own steps :data:`SLA_STEPS` on any ticket (idempotent,
  refused by the domain before they are due).
- auditor: every read, including the access log; nothing else.
- admin: everything.

Personal data (phone, address, ID numbers) is shown unmasked to: admins; agents and supervisors
of the front office; agents and supervisors of the ticket's department (or a department above
it). Everyone else (another department, monitors, auditors) sees it masked. Customers' own
records: admins and the front office.
"""

from __future__ import annotations

from datetime import datetime

from api.errors import forbidden
from api.users import User
from domain.base import Role
from domain.commands import TICKET_ACTIONS
from domain.errors import DomainError
from domain.org import OrgDirectory

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SLA_STEPS = frozenset({"raise_sla_warning", "record_breach", "escalate"})
SUPERVISOR_ACTIONS = frozenset(
    {"urge", "supervise", "escalate", "transfer", "hand_over", "rebind_sla"}
)
AGENT_ACTIONS = frozenset(TICKET_ACTIONS) - SUPERVISOR_ACTIONS - SLA_STEPS
ALL_ACTIONS = frozenset(TICKET_ACTIONS)


def require_method(user: User, method: str) -> None:
    """Auditors read everything and change nothing: any other method than a safe one -> 403."""
    if user.role is Role.AUDITOR and method not in SAFE_METHODS:
        raise forbidden("auditors read everything and change nothing", code="read_only_role")


class Policy:
    """The role rules of the module docstring, against the org directory at an instant."""

    def __init__(self, directory: OrgDirectory) -> None:
        self.directory = directory

    # ------------------------------------------------------------ departments

    def unit(self, department: str | None, at: datetime) -> str | None:
        """Where a department's duties are at ``at`` (itself while it exists)."""
        if department is None:
            return None
        try:
            return self.directory.successor(department, at)
        except DomainError:
            return department

    def in_front_office(self, user: User, at: datetime) -> bool:
        try:
            front = self.directory.front_office(at)
        except DomainError:
            return False
        return self.unit(user.department, at) == front

    def covers(self, user: User, department: str | None, at: datetime) -> bool:
        """True when ``department`` is the user's department or lies under it."""
        mine = self.unit(user.department, at)
        current = self.unit(department, at)
        seen: set[str] = set()
        while current is not None and current not in seen:
            if current == mine:
                return True
            seen.add(current)
            try:
                current = self.directory.department(current, at).parent
            except DomainError:
                return False
        return False

    # ---------------------------------------------------------------- tickets

    def ticket_actions(self, user: User, department: str | None, at: datetime) -> frozenset[str]:
        """The ticket actions this user may send to a ticket held by ``department``."""
        match user.role:
            case Role.ADMIN:
                return ALL_ACTIONS
            case Role.SUPERVISOR:
                return AGENT_ACTIONS | SUPERVISOR_ACTIONS
            case Role.MONITOR:
                return SLA_STEPS
            case Role.AGENT:
                if self.in_front_office(user, at) or self.covers(user, department, at):
                    return AGENT_ACTIONS
                return frozenset()
        return frozenset()

    def require_action(
        self, user: User, action: str, number: str, department: str | None, at: datetime
    ) -> None:
        if action in self.ticket_actions(user, department, at):
            return
        if user.role is Role.AGENT and action in AGENT_ACTIONS:
            why = f"ticket {number} is held by {department}, not by {user.department}"
        else:
            why = f"role {user.role.value} may not {action}"
        raise forbidden(f"{user.id} may not {action} ticket {number}: {why}")

    def sees_ticket_personal_data(self, user: User, department: str | None, at: datetime) -> bool:
        if user.role is Role.ADMIN:
            return True
        if user.role in (Role.AGENT, Role.SUPERVISOR):
            return self.in_front_office(user, at) or self.covers(user, department, at)
        return False

    # ------------------------------------------------------- other aggregates

    def require_intake(self, user: User) -> None:
        if user.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
            raise forbidden(f"role {user.role.value} may not take in tickets")

    def require_callbacks(self, user: User, at: datetime) -> None:
        if user.role in (Role.ADMIN, Role.SUPERVISOR):
            return
        if user.role is Role.AGENT and self.in_front_office(user, at):
            return
        raise forbidden(
            f"{user.id} may not handle callbacks: 回访 is the front office's "
            f"({self.directory.front_office(at)}), supervisors' and admins'"
        )

    def require_register_customer(self, user: User) -> None:
        if user.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
            raise forbidden(f"role {user.role.value} may not register customers")

    def require_customer_management(self, user: User) -> None:
        if user.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise forbidden(
                f"role {user.role.value} may not grade customers or name account managers"
            )

    def require_erasure(self, user: User) -> None:
        if user.role is not Role.ADMIN:
            raise forbidden(
                f"role {user.role.value} may not erase a customer's personal data (admin only)"
            )

    def sees_customer_personal_data(self, user: User, at: datetime) -> bool:
        if user.role is Role.ADMIN:
            return True
        return user.role in (Role.AGENT, Role.SUPERVISOR) and self.in_front_office(user, at)

    def require_audit(self, user: User) -> None:
        if user.role not in (Role.AUDITOR, Role.ADMIN):
            raise forbidden(f"role {user.role.value} may not read the access log")
