"""What bounds the API's secrets and load, held once per running API (``Runtime.guards``).

- ``tickets``: single-use stream tickets (``api/stream_tickets.py``), so no bearer token
  travels in a URL;
- ``streams``: each user's open live streams, at most ``CASETRAIL_MAX_STREAMS_PER_USER``;
- ``replays``: the checkpoint cache and turn-taking of ``as_of`` reports (``api/replays.py``);
- ``stopping``: set when the server stops, so that open streams end and a stop never waits
  on a browser tab (set by ``casetrail serve`` as soon as it is told to stop, see
  ``api/serving.py``; anything else hosting the app may set it too).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from api.replays import ReplayCache
from api.stream_tickets import StreamSlots, StreamTickets


@dataclass
class Guards:
    """Stream tickets and slots, the ``as_of`` replay cache, and the stop signal."""

    tickets: StreamTickets = field(default_factory=StreamTickets)
    streams: StreamSlots = field(default_factory=StreamSlots)
    replays: ReplayCache = field(default_factory=ReplayCache)
    stopping: threading.Event = field(default_factory=threading.Event)
