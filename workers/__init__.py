"""Long-running processes: projector, relay, SLA clock, callback scheduler."""
