"""Settings, logging and the data files (SLA policies, calendars, departments, users): no code
that builds anything; it imports none of the other rooms."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
