"""The composition root: builds the desk (and later projections and workers) from settings.

Entry points (CLI, API, workers) and tests call these functions; nothing else constructs
infrastructure. A desk records events with the real clock (:func:`build_desk`); only a store
created as a simulation takes a simulated one (:func:`build_simulated_desk`,
:mod:`bootstrap.store`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from bootstrap.data import callback_plan_of, catalogue_of, directory_of
from bootstrap.problem_customers import load_problem_threshold
from bootstrap.store import NotBefore, StoreRefusal, describe, newest_recorded, read_store
from bootstrap.surveys import load_survey_rules
from config.settings import Settings
from domain.desk import Desk
from domain.key_accounts import set_problem_threshold
from domain.survey import set_capa_warning, set_default_target
from projections.adapter_postgres import PostgresViewStore
from projections.adapter_sqlite import SQLiteViewStore
from projections.core import Projection
from workers.projector import Follower, Projector
from workers.relay import RELAY_NAME, Relay


def system_clock() -> datetime:
    return datetime.now(tz=UTC)


# Any fixed number: every casetrail process takes this advisory lock while it creates tables.
_SCHEMA_LOCK = 0x63617365  # "case"


@contextmanager
def schema_lock(settings: Settings) -> Iterator[None]:
    """Serialise table creation between processes starting at once on one PostgreSQL database.

    eventsourcing creates its insert function with ``CREATE OR REPLACE FUNCTION`` and the view
    stores their tables with ``CREATE ... IF NOT EXISTS``; PostgreSQL refuses both when two
    sessions run them concurrently ("tuple concurrently updated", duplicate ``pg_type`` key),
    which is what two projectors, or ``rebuild --jobs``, starting together would do.
    SQLite needs nothing: its file lock already serialises writers.
    """
    if settings.backend == "sqlite":
        yield
        return
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


def build_desk(settings: Settings | None = None) -> Desk:
    """The write-side application on the configured event store (SQLite or PostgreSQL),
    recording events with the real clock."""
    return _desk(settings or Settings(), system_clock)


def build_simulated_desk(settings: Settings, clock: Callable[[], datetime]) -> Desk:
    """The desk on a simulated recording ``clock``: only on a store created as a simulation.

    Raises :class:`bootstrap.store.StoreRefusal` on a real store (see :mod:`bootstrap.store`).
    The desk refuses to record at an instant before the newest time the store already holds
    (:class:`bootstrap.store.RecordedTimeWouldGoBack`): recorded times never go backwards.
    """
    if not read_store(settings).simulation:
        raise StoreRefusal(
            f"{describe(settings)} is a real store: events are recorded with the real clock, "
            "never on a simulated one (`casetrail store init --simulation` makes an empty "
            "store a simulation)"
        )
    guarded = NotBefore(clock)
    desk = _desk(settings, guarded)
    guarded.floor = newest_recorded(desk)
    return desk


def _desk(settings: Settings, clock: Callable[[], datetime]) -> Desk:
    with schema_lock(settings):
        desk = Desk(
            catalogue=catalogue_of(settings),
            directory=directory_of(settings),
            clock=clock,
            env=settings.eventsourcing_env(),
        )
    set_problem_threshold(desk, load_problem_threshold(settings.data_dir))
    surveys = load_survey_rules(settings.data_dir)
    set_default_target(desk, surveys.default_target_percent)
    set_capa_warning(desk, surveys.capa_warn_at)
    return desk


def build_projections(settings: Settings | None = None) -> list[Projection]:
    """Every read model casetrail maintains, in a fixed order."""
    from projections.account_manager_worklist import AccountManagerWorklist
    from projections.assessment import AssessmentView
    from projections.callback_plan import CallbackPlan
    from projections.department_performance import DepartmentPerformance
    from projections.escalation_queue import EscalationQueue
    from projections.outages import Outages
    from projections.sla_deadlines import SlaDeadlines
    from projections.surveys import Surveys
    from projections.ticket_search import TicketSearch
    from projections.ticket_timeline import TicketTimeline
    from projections.worklists import Worklists

    return [
        TicketTimeline(),
        SlaDeadlines(),
        EscalationQueue(),
        Worklists(),
        DepartmentPerformance(directory_of(settings or Settings())),
        CallbackPlan(),
        TicketSearch(),
        AccountManagerWorklist(),
        AssessmentView(directory_of(settings or Settings())),
        Surveys(),
        Outages((settings or Settings()).timezone),
    ]


# A rebuild writes into "<table>__next", tracked as "casetrail.<view>#next", then swaps.
SHADOW_SUFFIX = "__next"


def build_followers(
    settings: Settings | None = None,
    projections: list[Projection] | None = None,
    *,
    shadow: bool = False,
    env: dict[str, str] | None = None,
) -> list[Follower]:
    """One view store per projection on the configured backend, sharing one datastore.

    ``shadow``: stores beside the live views, for a rebuild to fill and then swap in
    (:func:`workers.projector.adopt_rebuilt`); the live views go on serving meanwhile.
    ``env``: the library's environment for the views' datastore, when it is not the
    settings' own (an auditor's sandbox: :mod:`bootstrap.sandbox`).
    """
    settings = settings or Settings()
    views_env = Environment("views", env or settings.eventsourcing_env())
    factory = InfrastructureFactory.construct(env=views_env)
    base: type[Any] = SQLiteViewStore if settings.backend == "sqlite" else PostgresViewStore
    followers = []
    with schema_lock(settings):
        for projection in projections or build_projections(settings):
            name = f"casetrail.{projection.name}"
            store_class = type(
                f"{type(projection).__name__}Store",
                (base,),
                {
                    "projection": projection,
                    "application_name": f"{name}#next" if shadow else name,
                    "suffix": SHADOW_SUFFIX if shadow else "",
                },
            )
            store: Any = factory.tracking_recorder(store_class)
            store.create_tables()
            followers.append(Follower(projection, store))
    return followers


def build_projector(
    desk: Desk,
    settings: Settings | None = None,
    *,
    batch_size: int = 1000,
    views: list[str] | None = None,
) -> Projector:
    """The notification-log projector over every view, or over ``views`` only."""
    settings = settings or Settings()
    chosen = _chosen(views, settings)
    return Projector(desk, build_followers(settings, chosen), batch_size=batch_size)


def build_inprocess_workers(desk: Desk, settings: Settings | None = None) -> Any:
    """Projector, SLA clock and callback scheduler for one process (``casetrail serve``)."""
    from workers.inprocess import InProcessWorkers

    settings = settings or Settings()
    return InProcessWorkers(
        desk,
        build_projector(desk, settings),
        system_clock,
        plan=callback_plan_of(settings),
        backfill_grace=timedelta(seconds=settings.sla_backfill_grace_seconds),
    )


def _chosen(names: list[str] | None, settings: Settings) -> list[Projection]:
    """The named projections (all: None); unknown names are an error naming them."""
    every = build_projections(settings)
    if names is None:
        return every
    unknown = set(names) - {p.name for p in every}
    if unknown:
        raise ValueError(f"unknown views: {', '.join(sorted(unknown))}")
    return [p for p in every if p.name in names]


# ---------------------------------------------------------------- Kafka (scaled deployment)


def ensure_topic(settings: Settings) -> None:
    """Create the relay's topic with ``kafka_partitions`` partitions unless it exists."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="casetrail")
    try:
        if settings.kafka_topic not in admin.list_topics():
            with suppress(TopicAlreadyExistsError):  # another relay created it meanwhile
                admin.create_topics([NewTopic(settings.kafka_topic, settings.kafka_partitions, 1)])
    finally:
        admin.close()


def build_relay(
    desk: Desk,
    settings: Settings | None = None,
    *,
    batch_size: int = 500,
    name: str = RELAY_NAME,
) -> Any:
    """Store -> Kafka, tracked in the views' tracking table under ``name``."""
    from kafka import KafkaProducer

    settings = settings or Settings()
    ensure_topic(settings)
    factory = InfrastructureFactory.construct(
        env=Environment("views", settings.eventsourcing_env())
    )
    with schema_lock(settings):
        tracking: Any = factory.tracking_recorder()
        tracking.create_table()
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,  # retries keep a partition's order (kafka-python >= 3)
        linger_ms=5,
        client_id="casetrail-relay",
    )
    return Relay(desk, tracking, producer, settings.kafka_topic, batch_size=batch_size, name=name)


def build_kafka_projector(
    desk: Desk, settings: Settings | None = None, names: list[str] | None = None
) -> Any:
    """A consumer-group member folding the relay's topic into the chosen views (None: every
    view but those fed from the log only, ``Projection.log_order_only``)."""
    from kafka import KafkaConsumer

    from projections.at_least_once import Deduplicated
    from workers.kafka_projector import KafkaProjector, consumer_settings

    settings = settings or Settings()
    chosen = _chosen(names, settings)
    log_only = [p.name for p in chosen if p.log_order_only]
    if names is not None and log_only:
        raise ValueError(
            f"{', '.join(log_only)}: fed from the notification log only (their rows combine "
            "several tickets' events in log order; the topic keeps order per ticket)"
        )
    fed: list[Projection] = [Deduplicated(p) for p in chosen if not p.log_order_only]
    followers = build_followers(settings, fed)
    consumer = KafkaConsumer(**consumer_settings(settings.kafka_bootstrap, settings.kafka_group))
    consumer.subscribe([settings.kafka_topic])
    return KafkaProjector(desk, followers, consumer)
