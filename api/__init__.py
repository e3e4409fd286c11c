"""HTTP API (FastAPI) and the thin client's static pages: the only room that knows HTTP."""
