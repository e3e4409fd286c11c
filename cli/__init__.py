"""The casetrail command line (typer)."""
