"""Settings from the environment (prefix ``CASETRAIL_``), validated by pydantic-settings.

The embedded default needs none: a SQLite file under ``./var``. Point
``CASETRAIL_DATABASE_URL`` at PostgreSQL (``postgresql://user@host:5432/db``) for the scaled
deployment; ``CASETRAIL_KAFKA_BOOTSTRAP`` names the broker for the relay.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

from psycopg.conninfo import make_conninfo
from pydantic import DirectoryPath, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import DATA_DIR
from config.data_files import SHIPPED, DataFile, DataName, RuleName


class Settings(BaseSettings):
    """Everything a casetrail process can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="CASETRAIL_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/casetrail.sqlite",
        description="sqlite:///path/to/file.sqlite (embedded) or postgresql://user[:pw]@host:port/db",
    )
    postgres_pool_size: int = Field(default=8, ge=1, description="PostgreSQL connection pool size")
    postgres_max_overflow: int = Field(
        default=8, ge=0, description="connections the pool may open beyond its size under load"
    )
    postgres_statement_timeout_ms: int = Field(
        default=15_000,
        ge=0,
        description="longest a single SQL statement may run (0: no limit); a statement cut "
        "short fails its request with 503 database_busy",
    )
    postgres_lock_timeout_ms: int = Field(
        default=5_000,
        ge=0,
        description="longest a statement waits for a lock (a table lock held elsewhere, the "
        "event log's insert lock) before it fails with 503 database_busy (0: no limit)",
    )
    postgres_connect_timeout: int = Field(
        default=2,
        ge=1,
        le=60,
        description="seconds to wait for a new connection, or for a free one from the pool, "
        "before a request fails with 503 database_unavailable",
    )
    aggregate_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="aggregates kept in memory: ticket actions decide on the cached copy; other "
        "reads fast-forward it from the store",
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="IANA timezone times are shown and read in"
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Kafka bootstrap servers (host:port[,host:port]) for the relay and the "
        "Kafka-fed projector; any Kafka-protocol broker (tests start tansu)",
    )
    kafka_topic: str = Field(
        default="casetrail.events",
        description="the topic the relay publishes to (created by the relay if missing)",
    )
    kafka_partitions: int = Field(
        default=4, ge=1, description="partitions when the relay creates the topic"
    )
    kafka_group: str = Field(
        default="casetrail.projector", description="consumer group of the Kafka-fed projectors"
    )
    sla_backfill_grace_seconds: int = Field(
        default=600,
        ge=0,
        le=86_400,
        description="how long the live SLA clock leaves steps due before a ticket's intake "
        "was recorded (a backfilled past) alone after that recording, so its contact, "
        "dispatch or pause can be entered first",
    )
    log_json: bool = Field(
        default=True,
        description="JSON log lines (workers and serve); false: plain console lines",
    )
    log_level: str = Field(default="INFO", description="structlog level")
    max_streams_per_user: int = Field(
        default=5,
        ge=1,
        description="live streams (GET /api/v1/stream) one user may hold open at once; one more "
        "is refused with 429 too_many_streams and Retry-After",
    )
    max_body_bytes: int = Field(
        default=262_144,
        ge=1024,
        description="largest HTTP request body accepted, in bytes (counted as it streams in, "
        "with or without Content-Length); a larger one is refused with 413 payload_too_large",
    )

    data_dir: DirectoryPath | None = Field(
        default=None,
        description="folder holding any of sla_policies.toml, calendars.toml, org.toml, "
        "callback_plan.toml, users.toml; a file not there is the shipped one (config/data/)",
    )
    sla_policies_file: Path | None = Field(
        default=None,
        description="TOML file of the SLA policy catalogue (wins over data_dir)",
    )
    calendars_file: Path | None = Field(
        default=None,
        description="TOML file of the business calendars the SLA policies name "
        "(wins over data_dir)",
    )
    org_file: Path | None = Field(
        default=None,
        description="TOML file of the org directory: departments, reorganisations, routing "
        "(wins over data_dir)",
    )
    callback_plan_file: Path | None = Field(
        default=None,
        description="TOML file of the callback plan: which tickets are called back, how often "
        "graded customers are (wins over data_dir)",
    )
    users_file: Path | None = Field(
        default=None,
        description="TOML file of API users, their roles, departments and bearer tokens "
        "(wins over data_dir)",
    )
    assessment_rules_file: Path | None = Field(
        default=None,
        description="TOML file of the assessment (考核) points and responsible leaders "
        "(wins over data_dir)",
    )

    def data_file(self, name: DataName | RuleName) -> DataFile:
        """Where the ``name`` data file is read from: its own setting (the loop's rule files but
        the assessment rules have none), else ``data_dir`` when the file is there, else the
        shipped one."""
        filename = f"{name}.toml"
        own: Path | None = getattr(self, f"{name}_file", None)
        if own is not None:
            return DataFile(name, own, env_name(f"{name}_file"))
        if self.data_dir is not None and (self.data_dir / filename).exists():
            return DataFile(name, self.data_dir / filename, env_name("data_dir"))
        return DataFile(name, DATA_DIR / filename, SHIPPED)

    @property
    def backend(self) -> str:
        scheme = urlparse(self.database_url).scheme
        if scheme.startswith("postgres"):
            return "postgres"
        if scheme == "sqlite":
            return "sqlite"
        raise ValueError(f"CASETRAIL_DATABASE_URL: unsupported scheme {scheme!r}")

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment the eventsourcing library reads to build its recorders."""
        env = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            # Personal fields sealed per customer, keys beside the events (crypto-shredding).
            "MAPPER_TOPIC": "bootstrap.personal:SealingMapper",
        }
        if self.backend == "sqlite":
            path = self.sqlite_path
            path.parent.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                # The library's recorder, writing the hash chain as it inserts (bootstrap.chain).
                APPLICATION_RECORDER_TOPIC="bootstrap.sqlite_recorder:ChainedSQLiteRecorder",
                SQLITE_DBNAME=str(path),
                SQLITE_LOCK_TIMEOUT="10",
            )
            return env
        url = urlparse(self.database_url)
        env.update(
            POSTGRES_DBNAME=url.path.lstrip("/") or "casetrail",
            POSTGRES_HOST=url.hostname or "127.0.0.1",
            POSTGRES_PORT=str(url.port or 5432),
            POSTGRES_USER=unquote(url.username or "postgres"),
            POSTGRES_PASSWORD=unquote(url.password or ""),
            POSTGRES_POOL_SIZE=str(self.postgres_pool_size),
            POSTGRES_MAX_OVERFLOW=str(self.postgres_max_overflow),
            # Stored functions insert events in one round trip: 0.84x raw vs 0.37x (MEASURED.md).
            POSTGRES_ENABLE_DB_FUNCTIONS="y",
            # ... with the events sent as binary arrays (bootstrap.pg_recorder), over connections
            # that time out and reconnect quickly (bootstrap.pg_factory).
            PERSISTENCE_MODULE="bootstrap.pg_factory:Factory",
            POSTGRES_CONNECT_TIMEOUT=str(self.postgres_connect_timeout),
            POSTGRES_LIBPQ_CONNECT_TIMEOUT=str(self.postgres_connect_timeout),
            POSTGRES_STATEMENT_TIMEOUT_MS=str(self.postgres_statement_timeout_ms),
            POSTGRES_LOCK_TIMEOUT_MS=str(self.postgres_lock_timeout_ms),
            # Whole seconds, rounded up: the insert function's own SET LOCAL lock_timeout.
            POSTGRES_LOCK_TIMEOUT=str(-(-self.postgres_lock_timeout_ms // 1000)),
        )
        return env

    @property
    def postgres_conninfo(self) -> str:
        """A psycopg connection string for the configured PostgreSQL (same parts as above)."""
        env = self.eventsourcing_env()
        return make_conninfo(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def sqlite_path(self) -> Path:
        raw = self.database_url.removeprefix("sqlite:///")
        return Path(raw)


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()
