"""Settings, logging and the data files (SLA policies, calendars, departments, users): no code
that builds anything; it imports none of the other rooms."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def read_data(path: Path | str | None, shipped: str) -> tuple[str, bytes]:
    """``(source, bytes)`` of a data file: ``path``, or the shipped ``config/data/<shipped>``.

    Raises OSError when the file cannot be read; loaders turn it into their own error.
    """
    source = Path(path) if path is not None else DATA_DIR / shipped
    return str(source), source.read_bytes()
