"""HTTP API (FastAPI) and the thin client's static pages: the only room that knows HTTP.

The modules stand in layers; each imports only from the layers above its own row (no cycle;
an import under ``TYPE_CHECKING`` or inside a function counts as an import):

========  ===============================================  ==================================
layer     modules                                          may import from ``api``
========  ===============================================  ==================================
parts     ``errors`` ``limits`` ``serving`` ``schemas``    nothing
          ``present`` ``reads`` ``replays``
          ``stream_tickets`` ``stream_positions``
          ``health``
rules     ``auth`` ``params`` ``idempotency``              ``errors``
          ``guards``                                       ``replays`` ``stream_tickets``
state     ``runtime``                                      parts and rules; no service
deps      ``deps`` (the runtime and the caller as FastAPI  ``runtime``, parts and rules
          dependencies)
services  ``responses`` ``privacy`` ``writes``             everything above (``writes``
          ``search``                                       also ``responses``, ``search``
                                                           also ``privacy``)
routes    ``routes.command`` (the shape of every command   services and everything above
          route), then one router per resource             (a router: also ``routes.command``;
                                                           never another router)
root      ``app``                                          anything: it composes the API
========  ===============================================  ==================================

So a route reads as: parse (``params``, ``schemas``), authorise (``deps`` for the caller,
``runtime.policy`` from ``auth``), call the application through a service (``writes``,
``search``, the runtime's desk and ``reader``), answer (``present``, ``privacy``,
``responses``). ``auth`` knows nothing of the runtime; ``runtime`` holds state and knows no
service, route or FastAPI machinery.
"""
