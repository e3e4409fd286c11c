"""Edge configuration: settings, logging, data files (SLA policies, calendars) and bootstrap."""
