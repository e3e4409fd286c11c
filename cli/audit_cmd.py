"""``casetrail audit``: what an auditor (审计部, 督导部) runs to trust and replay history.

The commands live in two modules by what they touch: :mod:`cli.audit_chain` (the hash chain
over the stored events: ``verify``, ``anchor``, ``export``) and :mod:`cli.audit_sandbox`
(replays beside the live views: ``replay``, ``what-if``). Both register on :data:`audit_app`;
``cli/main.py`` imports them.
"""

from __future__ import annotations

import typer

audit_app = typer.Typer(
    help="Audit: verify the event chain, export a ticket, replay history in a sandbox, what-if",
    no_args_is_help=True,
)
