"""API users: bearer tokens mapped to a person with a role and a department.

The default file is ``config/data/users.toml`` (demo tokens, documented there); the setting
``CASETRAIL_USERS_FILE`` points at another. Each ``[[user]]`` is validated by pydantic: a known
role (never ``system``, which is the workers'), a department the org directory knows for agents
and supervisors, and exactly one of ``token`` or ``token_sha256``. Tokens are looked up by their
sha256, so a deployed file may hold only hashes.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from config import read_data
from domain.base import Role
from domain.org import OrgDirectory

DEFAULT_FILE = "users.toml"
Ident = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Roles whose department decides what they may do: it must exist in the org directory.
SCOPED_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})


class UsersError(ValueError):
    """The users file cannot be read or does not validate; the message names file and field."""


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

    def __init__(self, users: list[User]) -> None:
        self.all = tuple(users)
        self._by_key: dict[str, User] = {}
        ids: set[str] = set()
        for user in users:
            if user.key in self._by_key:
                other = self._by_key[user.key].id
                raise UsersError(f"user {user.id}: token already given to {other}")
            if user.id in ids:
                raise UsersError(f"user {user.id}: id given twice")
            self._by_key[user.key] = user
            ids.add(user.id)

    def by_token(self, token: str) -> User | None:
        return self._by_key.get(token_hash(token))

    def check_departments(self, directory: OrgDirectory) -> None:
        """Agents' and supervisors' departments must be known to the org directory (at any time)."""
        instants = _instants(directory)
        for user in self.all:
            if user.role not in SCOPED_ROLES:
                continue
            if not any(directory.exists(user.department, at) for at in instants):
                raise UsersError(
                    f"user {user.id}: department {user.department!r} is not in the org directory"
                )


def _instants(directory: OrgDirectory) -> list[datetime]:
    """The instant each period of the directory begins (its start, then each change)."""
    return sorted({directory.start, *(change.at for change in directory.changes)})


def load_users(path: Path | str | None = None, directory: OrgDirectory | None = None) -> Users:
    """Read and validate the users file (default: the shipped demo file)."""
    try:
        source, raw = read_data(path, DEFAULT_FILE)
    except OSError as exc:
        raise UsersError(f"{path or DEFAULT_FILE}: cannot read: {exc.strerror or exc}") from exc
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsersError(f"{source}: not valid TOML: {exc}") from exc
    try:
        parsed = UserFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsersError(f"{source}: {where}: {first['msg']}") from exc
    try:
        users = Users(parsed.user)
        if directory is not None:
            users.check_departments(directory)
    except UsersError as exc:
        raise UsersError(f"{source}: {exc}") from exc
    return users
