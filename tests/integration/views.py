"""Helpers of the projector tests: a desk's database URL, view digests, a clean rebuild."""

from __future__ import annotations

from bootstrap import build_followers
from config.settings import Settings
from domain.desk import Desk
from projections.core import digest_rows
from workers.projector import Follower, Projector


def database_url(desk: Desk) -> str:
    """The URL of the database the desk stores its events in (views go there too)."""
    env = desk.env
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        return f"sqlite:///{env['SQLITE_DBNAME']}"
    return (
        f"postgresql://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
        f"/{env['POSTGRES_DBNAME']}"
    )


def digests(followers: list[Follower]) -> dict[str, tuple[int, str]]:
    """(rows, sha256) of every table of every view."""
    return {t.name: digest_rows(t, f.store.dump(t)) for f in followers for t in f.projection.tables}


def rebuilt(desk: Desk, settings: Settings) -> list[Follower]:
    """Every view dropped and replayed from the whole log by a fresh projector."""
    clean = build_followers(settings)
    for f in clean:
        f.reset()
    Projector(desk, clean).catch_up()
    return clean
