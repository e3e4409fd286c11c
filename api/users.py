"""API users: bearer tokens mapped to a person with a role and a department.

The default file is ``config/data/users.toml`` (demo tokens, documented there); the setting
``CASETRAIL_USERS_FILE`` (or a ``users.toml`` in ``CASETRAIL_DATA_DIR``) points at another.
Each ``[[user]]`` is validated by pydantic: a known role (never ``system``, which is the
workers'), a department the org directory knows for agents and supervisors, and exactly one of
``token`` or ``token_sha256``. Tokens are looked up by their sha256, so a deployed file may hold
only hashes."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from config.data_files import (
    DataFileError,
    Problem,
    entry_label,
    read_toml,
    validation_problems,
)
from domain.base import Role
from domain.org import OrgDirectory

DEFAULT_FILE = "users.toml"
Ident = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Roles whose department decides what they may do: it must exist in the org directory.
SCOPED_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})


class UsersError(DataFileError):
    """The users file cannot be read or does not validate; each problem names file, user and
    field."""


def token_hash(token: str) -> str:
    """Hex sha256 of a bearer token (how tokens are looked up)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class User(BaseModel):
    """One person who may call the API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Ident
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    role: Role
    department: Ident
    token: Annotated[str, StringConstraints(min_length=12, max_length=400)] | None = Field(
        default=None, repr=False
    )
    token_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, repr=False
    )

    @model_validator(mode="after")
    def _one_token(self) -> User:
        if self.role is Role.SYSTEM:
            raise ValueError("role 'system' belongs to the workers; give a person's role")
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of token or token_sha256")
        return self

    @property
    def key(self) -> str:
        """The sha256 the bearer token must hash to."""
        return self.token_sha256 or token_hash(self.token or "")


class UserFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: list[User] = Field(min_length=1)


class Users:
    """The users by token hash; immutable once loaded."""

    def __init__(self, users: list[User], *, source: str = "<users>") -> None:
        self.all = tuple(users)
        self.source = source
        self._by_key: dict[str, User] = {}
        ids: set[str] = set()
        problems = []
        for index, user in enumerate(users):
            if user.key in self._by_key:
                other = self._by_key[user.key].id
                problems.append(self._problem(index, "token", f"already given to {other}"))
            if user.id in ids:
                problems.append(self._problem(index, "id", f"user {user.id} is given twice"))
            self._by_key.setdefault(user.key, user)
            ids.add(user.id)
        if problems:
            raise UsersError(problems)

    def _problem(self, index: int, field: str, message: str) -> Problem:
        return Problem(
            self.source, entry_label("user", index, {"id": self.all[index].id}), field, message
        )

    def by_token(self, token: str) -> User | None:
        return self._by_key.get(token_hash(token))

    def check_departments(self, directory: OrgDirectory) -> None:
        """Agents' and supervisors' departments must be known to the org directory (at any time)."""
        instants = _instants(directory)
        problems = [
            self._problem(index, "department", f"{user.department!r} is not in the org directory")
            for index, user in enumerate(self.all)
            if user.role in SCOPED_ROLES
            and not any(directory.exists(user.department, at) for at in instants)
        ]
        if problems:
            raise UsersError(problems)


def _instants(directory: OrgDirectory) -> list[datetime]:
    """The instant each period of the directory begins (its start, then each change)."""
    return sorted({directory.start, *(change.at for change in directory.changes)})


def load_users(path: Path | str | None = None, directory: OrgDirectory | None = None) -> Users:
    """Read and validate the users file (default: the shipped demo file)."""
    try:
        source, document = read_toml(path, DEFAULT_FILE)
    except DataFileError as exc:
        raise UsersError(exc.problems) from exc
    try:
        parsed = UserFile.model_validate(document)
    except ValidationError as exc:
        raise UsersError(validation_problems(exc, source, document)) from exc
    users = Users(parsed.user, source=source)
    if directory is not None:
        users.check_departments(directory)
    return users
