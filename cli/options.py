"""What several commands read from their options, and how they show instants, the same way."""

from __future__ import annotations

from datetime import datetime

import typer

from config.settings import Settings


def instant_option(value: str, option: str, settings: Settings) -> datetime:
    """An ISO-8601 instant given to ``option``; without an offset it is local time in the
    configured timezone. A bad one is refused naming the option."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 instant (e.g. 2026-12-10T10:00+08:00)",
            param_hint=option,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=settings.tz)


def local_time(value: datetime | None, settings: Settings, fmt: str = "%m-%d %H:%M") -> str:
    """An instant as a table shows it: in the configured timezone (business time); – for none."""
    return "–" if value is None else value.astimezone(settings.tz).strftime(fmt)
