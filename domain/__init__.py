"""casetrail's domain: aggregates, events, commands, SLA policy and business time.

Pure: no environment, no wall clock (time comes in as an argument), no I/O.
"""
