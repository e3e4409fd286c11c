"""FastAPI dependencies every route shares: the running API, and the caller behind the token.

``RuntimeDep`` is the :class:`~api.runtime.Runtime` the app's lifespan built. ``Caller`` is the
user of the bearer token, whatever the method (the stream ticket route: a ticket changes
nothing, so auditors may ask for one); ``CurrentUser`` is the same user with the auditors'
read-only rule applied (``api.auth.require_method``), what every other route takes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import require_method
from api.errors import unauthenticated
from api.runtime import Runtime
from api.users import User

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An opaque token from the users file (config/data/users.toml for the demo).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_runtime(request: Request) -> Runtime:
    """The running API, built once by ``api.app.create_app``'s lifespan."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def caller(credentials: Credentials, runtime: RuntimeDep) -> User:
    """The user behind the bearer token, whatever the method; 401 without a known token."""
    if credentials is None:
        raise unauthenticated("missing bearer token (Authorization: Bearer <token>)")
    user = runtime.users.by_token(credentials.credentials)
    if user is None:
        raise unauthenticated("unknown bearer token")
    return user


def current_user(request: Request, credentials: Credentials, runtime: RuntimeDep) -> User:
    """The user behind the bearer token; auditors are refused any write here, once for all."""
    user = caller(credentials, runtime)
    require_method(user, request.method)
    return user


Caller = Annotated[User, Depends(caller)]
CurrentUser = Annotated[User, Depends(current_user)]
