"""Shared settings, one block per concern. Every secret and URL comes from the environment.

Without ``DATABASE_URL`` / ``CELERY_BROKER_URL`` the project runs embedded: SQLite in WAL mode and
kombu's filesystem transport, so ``make demo`` needs no server installed. Importing this module has
no side effects: the directories it names are made at start-up by ``core.runtime``.
Helpers add their own concern as one block headed ``# --- <concern> (<name>) ---`` at the end.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import environ
from csp import constants as csp_source

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

# --- Paths ------------------------------------------------------------------------------------
# Everything the processes write (SQLite, broker, models, attachments, keys) lives below VAR_DIR,
# created mode 700 at start-up (core.runtime); files in it are created mode 600.
VAR_DIR = Path(env.str("FRAUDCASES_VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core and security --------------------------------------------------------------------------
# The repository's local-only key: production.py refuses it (and any key under 50 characters).
LOCAL_SECRET_KEY = "insecure-local-only-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=LOCAL_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy, sent by django-csp's middleware on every response. The API docs page
# (Swagger UI's inline bootstrap script) is left without one, as before.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs"],
    "DIRECTIVES": {
        "default-src": [csp_source.SELF],
        "img-src": [csp_source.SELF, "data:"],
        "style-src": [csp_source.SELF, "'unsafe-inline'"],
        "script-src": [csp_source.SELF],
        "frame-ancestors": [csp_source.NONE],
        "form-action": [csp_source.SELF],
        "base-uri": [csp_source.SELF],
    },
}

# --- Applications and request pipeline ----------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "rest_framework",
    # People may call the case API with a personal token (``Authorization: Token <key>``, issued
    # in the admin) as well as with their browser session.
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",  # the case queue's FilterSet (page and API): fraudcases/filters.py
    "core",
    "fraudcases",
    "scoring",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.RequestIdMiddleware",
    # Database outages answer 503 + Retry-After instead of 500 (core/outage.py); right
    # after the request id so the id is on the 503 too.
    "core.outage.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fraudcases.urls"
WSGI_APPLICATION = "fraudcases.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.roles",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "fraudcases.sqlite3"
_database = env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and beat processes read while one writes; IMMEDIATE transactions
    # take the write lock up front so concurrent writers queue instead of failing mid-transaction.
    _database["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    _database.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The history index carries non-key columns (INCLUDE) for PostgreSQL's index-only scans; SQLite
# (the demo, the fast tests) builds the same index on its keys alone, which is what it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- Cache ----------------------------------------------------------------------------------------
# API throttling counts requests here. The default is per process; set CACHE_URL (e.g.
# redis://host:6379/2) so every web process shares one count.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if not env.str("CACHE_URL", default="") and env.str("CELERY_BROKER_URL", default="").startswith(
    ("redis://", "rediss://")
):
    # No CACHE_URL but a Redis broker: share that Redis (keys prefixed), so every gunicorn
    # worker sees the same dashboard aggregates and throttling counts (docs/reporting.md).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("CELERY_BROKER_URL"),
            "KEY_PREFIX": "fc-cache",
        }
    }
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A Redis restart must not turn requests into 500s: reads miss and writes are skipped while
    # it is down (core/cache.py), and a dead Redis is given up on after a second.
    CACHES["default"]["BACKEND"] = "core.cache.ResilientRedisCache"
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
    )

# --- Authentication, sessions and sign-in protection --------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/cases/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
# This many failed sign-ins for one (normalised) username from one address lock that pair out
# for LOGIN_LOCKOUT_MINUTES.
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
# This many failed sign-ins from one address, whatever the usernames, refuse further attempts
# from it for LOGIN_LOCKOUT_MINUTES (guessing across many usernames).
LOGIN_ADDRESS_MAX_FAILURES = env.int("LOGIN_ADDRESS_MAX_FAILURES", default=20)

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DISPLAY_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files, uploads and attachments -------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # collectstatic fills it; whitenoise serves it with DEBUG off
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "private"  # attachments; never served directly
# Uploaded files and the directories made for them are private to the service's user.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# A batch of 5,000 transactions is ~2.5 MB of JSON; leave room but keep a hard ceiling.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

# --- HTTP API (DRF, drf-spectacular) ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scoring.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    # One budget per API key and one per signed-in person (session or token); over it: 429
    # with Retry-After. Counted in CACHES["default"].
    "DEFAULT_THROTTLE_CLASSES": [
        "scoring.api.throttling.ApiKeyRateThrottle",
        "scoring.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_THROTTLE_RATE_API_KEY", default="1200/min"),
        "user": env.str("API_THROTTLE_RATE_USER", default="600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "fraudcases API",
    "DESCRIPTION": "Transaction ingestion, scoring results and case management.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Anonymous users see only the login page and /healthz: the API schema and docs need a
    # sign-in (or an API key).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The transaction input components come from the ingestion validator (scoring.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "scoring.api.openapi.add_transaction_components",
    ],
    # Readable names for enums that share values across models (ingest).
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "fraudcases.models.Case.Status",
        "DispositionEnum": "fraudcases.models.Case.Disposition",
        "RiskLevelEnum": "scoring.models.RiskLevel",
        "TransactionStatusEnum": "scoring.models.Transaction.Status",
    },
}

# --- Scoring --------------------------------------------------------------------------------------
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
INGEST_MAX_BATCH = 5000
# Risk score (0-100) at or above which a level applies; high and critical open a case.
RISK_LEVEL_THRESHOLDS = {"medium": 40, "high": 70, "critical": 90}
CASE_OPEN_LEVELS = ("high", "critical")
# Who receives a scored batch's risky transactions (scoring.hits), in the same transaction:
# the case domain opens or updates cases. Named, so scoring imports nothing above it.
SCORING_HITS_HANDLER = "fraudcases.services.opening.cases_open_or_attach"
# A transaction still pending this long is assumed lost (worker or broker died) and re-enqueued.
PENDING_SWEEP_AFTER_SECONDS = env.int("PENDING_SWEEP_AFTER_SECONDS", default=120)
MAX_SCORING_ATTEMPTS = 5
WORKER_HEARTBEAT_SECONDS = 10
WORKER_HEARTBEAT_STALE_SECONDS = 60
MODEL_STORE_DIR = Path(env.str("MODEL_STORE_DIR", default=str(VAR_DIR / "models")))
FEED_API_KEY_FILE = VAR_DIR / "feed-api-key"

# --- Case workspace (issue 5) ------------------------------------------------------------------
# Hours until a case of this priority breaches its SLA.
CASE_SLA_HOURS = {"critical": 4, "high": 24, "medium": 72, "low": 168}
# A case whose SLA window has less than this share left is shown as "due soon".
CASE_SLA_DUE_SOON_SHARE = 0.25
# Four-eyes closure: an investigator closing a critical case, or any case at or above this risk
# score, sends it to a supervisor (other than the closer) for approval.
CASE_FOUR_EYES_PRIORITIES = ("critical",)
CASE_FOUR_EYES_MIN_RISK = env.int("CASE_FOUR_EYES_MIN_RISK", default=90)
CASE_BULK_MAX = 200
# Attachments: stored under MEDIA_ROOT (never served directly), downloaded through a checked view.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENT_ALLOWED_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".eml": "message/rfc822",
}

# --- Model lifecycle (issue 6) -----------------------------------------------------------------
# Population stability index above which a drift report raises an alert (0.1 moderate, 0.25 big).
DRIFT_PSI_THRESHOLD = env.float("DRIFT_PSI_THRESHOLD", default=0.2)
DRIFT_CURRENT_HOURS = env.int("DRIFT_CURRENT_HOURS", default=24)  # "now": the last 24 h
DRIFT_REFERENCE_DAYS = env.int("DRIFT_REFERENCE_DAYS", default=7)  # vs the 7 days before it
DRIFT_MIN_ROWS = env.int("DRIFT_MIN_ROWS", default=50)  # fewer rows in a window: no PSI
DRIFT_MAX_ROWS = env.int("DRIFT_MAX_ROWS", default=50_000)  # most recent rows read per window
# Scheduled retraining of a challenger from synthetic + labelled history; off unless enabled.
MODEL_RETRAIN_ENABLED = env.bool("MODEL_RETRAIN_ENABLED", default=False)
MODEL_RETRAIN_INTERVAL_HOURS = env.float("MODEL_RETRAIN_INTERVAL_HOURS", default=24.0)
# The "test this rule" preview looks at this many recent scored transactions at most.
RULE_PREVIEW_MAX = 50_000

# --- Audit log key and anchors (settings: prod; use: audit) -------------------------------------
# HMAC key that signs the audit chain. Empty: a key generated on first use into
# AUDIT_HMAC_KEY_FILE (mode 600) — local and test only; production.py requires AUDIT_HMAC_KEY.
AUDIT_HMAC_KEY = env.str("AUDIT_HMAC_KEY", default="")
AUDIT_HMAC_KEY_FILE = VAR_DIR / "audit-hmac-key"
# Id stored with each signature, so a rotated key can still verify older rows.
AUDIT_HMAC_KEY_ID = env.str("AUDIT_HMAC_KEY_ID", default="k1")
# Keys retired by rotation, by id: AUDIT_HMAC_OLD_KEYS="k0=<key>,k00=<key>".
AUDIT_HMAC_OLD_KEYS = env.dict("AUDIT_HMAC_OLD_KEYS", default={})
# Append-only file of chain anchors (periodic head hashes) kept outside the database.
AUDIT_ANCHOR_PATH = Path(env.str("AUDIT_ANCHOR_PATH", default=str(VAR_DIR / "audit-anchors.jsonl")))

# --- Celery ---------------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Folders made at start-up by core.runtime.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Fanout exchanges (worker control); kombu's default is ./control in the working dir.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="fraudcases")
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Re-enqueue transactions left pending (dead worker or broker).
    "sweep-stale-pending": {"task": "scoring.sweep_pending", "schedule": 30.0},
    # Escalate cases past their SLA (CASE_SLA_HOURS).
    "escalate-overdue-cases": {"task": "fraudcases.escalate_overdue_cases", "schedule": 300.0},
    # Population stability report (DRIFT_*).
    "drift-report": {"task": "scoring.drift_report", "schedule": 24 * 3600.0},
    # Drop expired sign-in failures (the lockout's bookkeeping stays small).
    "purge-login-failures": {"task": "core.purge_login_failures", "schedule": 900.0},
    **(
        {
            "retrain-challenger": {
                "task": "scoring.retrain_challenger",
                "schedule": MODEL_RETRAIN_INTERVAL_HOURS * 3600.0,
            }
        }
        if MODEL_RETRAIN_ENABLED
        else {}
    ),
}

# (Logging: one block, "Observability", at the end.)

# --- Ingestion bounds (ingest) ------------------------------------------------------------------
# What scoring.schema accepts from every way in (API, CSV import, streams, generator); see
# docs/ingest.md. Earliest occurred_at accepted (ISO 8601 with zone).
INGEST_OCCURRED_AT_MIN = datetime.fromisoformat(
    env.str("INGEST_OCCURRED_AT_MIN", default="1970-01-01T00:00:00+00:00")
)
# How far past the server's clock occurred_at may be (clock skew of the senders).
INGEST_MAX_FUTURE = timedelta(seconds=env.int("INGEST_MAX_FUTURE_SECONDS", default=86400))
# metadata: keys at all levels together, nesting levels, bytes of JSON.
INGEST_METADATA_MAX_KEYS = 50
INGEST_METADATA_MAX_DEPTH = 3
INGEST_METADATA_MAX_BYTES = 8 * 1024
# A request body nested deeper than this is refused before it is parsed (the envelope and an
# item take 3 levels, metadata up to 3 more).
INGEST_MAX_JSON_DEPTH = 8

# --- Case workflow (workflow) -------------------------------------------------------------------
# Four-eyes for supervisors too: a supervisor closing a four-eyes case (CASE_FOUR_EYES_PRIORITIES
# or risk >= CASE_FOUR_EYES_MIN_RISK) that they worked on (assignee, or claimed, reviewed,
# noted, tagged, attached or escalated it) needs a second supervisor's approval. Investigators
# always need it on such cases; nobody approves a closure they requested. See docs/workflow.md.
CASE_FOUR_EYES_SUPERVISORS = env.bool("CASE_FOUR_EYES_SUPERVISORS", default=True)

# --- Audit log verification and append-only guard (audit) --------------------------------------
# Keys and the anchor file are in the "Audit log key and anchors" block above; docs/audit.md.
# How often beat appends the chain's head to AUDIT_ANCHOR_PATH (nothing is written if unchanged).
AUDIT_ANCHOR_INTERVAL_SECONDS = env.int("AUDIT_ANCHOR_INTERVAL_SECONDS", default=300)
# How often beat verifies the whole chain against every anchor (the result: audit_last_check()).
AUDIT_VERIFY_INTERVAL_SECONDS = env.int("AUDIT_VERIFY_INTERVAL_SECONDS", default=900)
# Verification reports (AuditCheck rows, not part of the chain) older than this are pruned.
AUDIT_CHECK_KEEP_DAYS = env.int("AUDIT_CHECK_KEEP_DAYS", default=90)
# Lets test teardown flush the audit table past its triggers on SQLite. Only settings/test.py
# turns it on (with the PostgreSQL counterpart there); never read from the environment.
AUDIT_DB_MAINTENANCE = False
# Migration 0004 re-seals the old unkeyed chain only if it verifies; set this for that one
# `migrate` run to seal a chain that is already broken (the break is recorded in the log).
AUDIT_REKEY_ACCEPT_BROKEN_LEGACY = env.bool("AUDIT_REKEY_ACCEPT_BROKEN_LEGACY", default=False)
CELERY_BEAT_SCHEDULE["audit-anchor"] = {
    "task": "core.audit_anchor",
    "schedule": float(AUDIT_ANCHOR_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE["audit-verify"] = {
    "task": "core.audit_verify",
    "schedule": float(AUDIT_VERIFY_INTERVAL_SECONDS),
}

# --- Observability: logs, metrics, health, outages (obs) ----------------------------------------
# See docs/observability.md. Log lines: "json" (one object per line with request_id, for log
# collectors) or "plain" (human-readable; the demo sets it).
from core.logging import logging_config  # noqa: E402 - the formatter lives with its filter

LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# Celery keeps Django's LOGGING (same format, request ids in worker lines) instead of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Bearer token a Prometheus scraper sends to /metrics (``Authorization: Bearer <token>``); empty
# = token access off (signed-in staff only). Per-process sample files go under METRICS_DIR
# (environment only, default VAR_DIR/metrics; core/metrics_process.py).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Seconds a client is told to wait (Retry-After) when the database is unreachable (503).
DATABASE_UNAVAILABLE_RETRY_AFTER = env.int("DATABASE_UNAVAILABLE_RETRY_AFTER", default=5)

# --- Reporting and quality review (insight) -----------------------------------------------------
# Seconds a dashboard chart's aggregate stays cached (per chart and filter set; CACHES["default"]).
REPORTING_CACHE_SECONDS = env.int("REPORTING_CACHE_SECONDS", default=60)
# The transaction charts read rollups (fraudcases/reporting/rollup.py) folded by the beat task
# every REPORTING_ROLLUP_REFRESH_SECONDS; a dashboard request folds them itself when the last
# fold is older than REPORTING_ROLLUP_MAX_LAG_SECONDS (0: on every request with dirty days).
REPORTING_ROLLUP_REFRESH_SECONDS = env.int("REPORTING_ROLLUP_REFRESH_SECONDS", default=30)
REPORTING_ROLLUP_MAX_LAG_SECONDS = env.int("REPORTING_ROLLUP_MAX_LAG_SECONDS", default=90)
# Days the dashboard shows when the URL names no date range.
REPORTING_DEFAULT_DAYS = env.int("REPORTING_DEFAULT_DAYS", default=30)
# Longest date range a dashboard filter accepts (days), so one request cannot scan everything.
REPORTING_MAX_DAYS = env.int("REPORTING_MAX_DAYS", default=366)
# "Top merchants / categories / countries by fraud rate" only rank values with this many
# labelled transactions in the range (a rate over 2 transactions says nothing).
REPORTING_TOP_MIN_LABELLED = env.int("REPORTING_TOP_MIN_LABELLED", default=20)
# Open cases one investigator can carry; the workload view shows who has room for more.
TEAM_CAPACITY_OPEN_CASES = env.int("TEAM_CAPACITY_OPEN_CASES", default=15)
# Quality review sampling: this share of closures at random (decided by an HMAC of the closure
# under SECRET_KEY: reproducible, not predictable by the closer) ...
QA_SAMPLE_RATE = env.float("QA_SAMPLE_RATE", default=0.05)
# ... plus every closure with one of these dispositions at or above this risk score.
QA_ALWAYS_DISPOSITIONS = ("legitimate",)
QA_ALWAYS_MIN_RISK = env.int("QA_ALWAYS_MIN_RISK", default=90)
# The sampling sweep looks at closures of the last this many days (it runs every few minutes).
QA_SWEEP_DAYS = env.int("QA_SWEEP_DAYS", default=3)
# Case reports: TrueType fonts embedded in the PDFs (Debian's fonts-dejavu-core); when missing,
# the PDF falls back to the built-in Helvetica (Latin-1 only).
REPORT_FONT_DIR = Path(env.str("REPORT_FONT_DIR", default="/usr/share/fonts/truetype/dejavu"))
# Transactions and audit events listed in a case report at most (the report says when cut).
REPORT_MAX_ROWS = env.int("REPORT_MAX_ROWS", default=2000)
# The filing institution's name printed on suspicious-activity exports.
REPORT_INSTITUTION_NAME = env.str("REPORT_INSTITUTION_NAME", default="")
# The quality-review sampling sweep is a Celery task outside fraudcases/tasks.py.
CELERY_IMPORTS = ("fraudcases.quality.tasks", "fraudcases.reporting.tasks")
CELERY_BEAT_SCHEDULE["dashboard-rollup-refresh"] = {
    "task": "fraudcases.rollup_refresh",
    "schedule": float(REPORTING_ROLLUP_REFRESH_SECONDS),
    "options": {"expires": float(REPORTING_ROLLUP_REFRESH_SECONDS)},  # no pile-up
}
CELERY_BEAT_SCHEDULE["qa-sample-closures"] = {
    "task": "fraudcases.qa_sample_closures",
    "schedule": 300.0,
}

# --- Streams in (streams) -----------------------------------------------------------------------
# `manage.py consume_stream`; see docs/streams.md. Redis holding the transaction stream; empty:
# the Celery broker when it is Redis, else none (the embedded demo: the command says so).
STREAM_REDIS_URL = env.str(
    "STREAM_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
# Stream (or Kafka topic) and consumer group read unless --stream / --group say otherwise.
STREAM_NAME = env.str("STREAM_NAME", default="transactions")
STREAM_GROUP = env.str("STREAM_GROUP", default="fraudcases")
# Messages per batch (one database transaction each); at most INGEST_MAX_BATCH.
STREAM_BATCH_SIZE = env.int("STREAM_BATCH_SIZE", default=500)
# Longest wait of one read for new messages (also how long a stop request may wait for it).
STREAM_BLOCK_MS = env.int("STREAM_BLOCK_MS", default=2000)
# A message pending this long with one consumer is taken over by another (XAUTOCLAIM): that
# consumer is presumed dead. Must exceed the longest batch; a waiting live consumer refreshes it.
STREAM_CLAIM_MIN_IDLE_MS = env.int("STREAM_CLAIM_MIN_IDLE_MS", default=60_000)
# A Redis message delivered more often than this without being acknowledged is dead-lettered
# (a poison message that kills its consumers); 0 = never.
STREAM_MAX_DELIVERIES = env.int("STREAM_MAX_DELIVERIES", default=5)
# Largest payload accepted for one transaction (a typical one is under 1 KB).
STREAM_MESSAGE_MAX_BYTES = env.int("STREAM_MESSAGE_MAX_BYTES", default=64 * 1024)
# Longest pause between retries while the database or the broker is down.
STREAM_BACKOFF_MAX_SECONDS = env.float("STREAM_BACKOFF_MAX_SECONDS", default=30.0)
# The dead-letter stream (or topic) is the stream's name followed by this.
STREAM_DEAD_LETTER_SUFFIX = env.str("STREAM_DEAD_LETTER_SUFFIX", default=".dead")
# Kafka (--source kafka): bootstrap servers, and extra librdkafka settings for the consumer and
# the dead-letter producer, e.g. "security.protocol=SASL_SSL,sasl.mechanism=PLAIN".
STREAM_KAFKA_BOOTSTRAP_SERVERS = env.str("STREAM_KAFKA_BOOTSTRAP_SERVERS", default="")
STREAM_KAFKA_CONFIG = env.dict("STREAM_KAFKA_CONFIG", default={})

# --- Alerts (alerts) ----------------------------------------------------------------------------
# Links in alerts point here (the address people open the web app at).
ALERTS_BASE_URL = env.str("ALERTS_BASE_URL", default="http://127.0.0.1:8000")
# Email channels use Django's email backend; SMTP from the environment (local/test settings
# switch the backend to console/locmem).
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
ALERTS_FROM_EMAIL = env.str("ALERTS_FROM_EMAIL", default="fraudcases-alerts@localhost")
# Fernet keys encrypting channel secrets (first encrypts, all decrypt: rotation). Empty: one key
# derived from SECRET_KEY (set this in production so SECRET_KEY can rotate on its own).
ALERTS_ENCRYPTION_KEYS = env.list("ALERTS_ENCRYPTION_KEYS", default=[])
# A default signed-webhook channel is created from these (the secret is referenced, not copied).
ALERTS_WEBHOOK_URL = env.str("ALERTS_WEBHOOK_URL", default="")
# Timeout of one HTTP or SMTP attempt, in seconds.
ALERTS_HTTP_TIMEOUT_SECONDS = env.float("ALERTS_HTTP_TIMEOUT_SECONDS", default=10.0)
# Attempts per delivery before it is dead; backoff base and cap (exponential, with jitter).
ALERTS_MAX_ATTEMPTS = env.int("ALERTS_MAX_ATTEMPTS", default=6)
ALERTS_RETRY_BASE_SECONDS = env.float("ALERTS_RETRY_BASE_SECONDS", default=10.0)
ALERTS_RETRY_MAX_SECONDS = env.float("ALERTS_RETRY_MAX_SECONDS", default=600.0)
# Permanent failures in a row after which a channel pauses itself (reason shown on /alerts/).
ALERTS_AUTOPAUSE_AFTER = env.int("ALERTS_AUTOPAUSE_AFTER", default=5)
# Default "at most one update per N minutes" per open case, for new channels.
ALERTS_UPDATE_THROTTLE_MINUTES = env.int("ALERTS_UPDATE_THROTTLE_MINUTES", default=10)
# A claim older than this belongs to a dead worker (keep it above the deliver task's 60 s limit).
ALERTS_DELIVERY_LEASE_SECONDS = env.float("ALERTS_DELIVERY_LEASE_SECONDS", default=120.0)
# The sweep leaves events and due deliveries this long to the on-commit path before acting.
ALERTS_SWEEP_GRACE_SECONDS = env.float("ALERTS_SWEEP_GRACE_SECONDS", default=60.0)
# Deliveries due later than this (quiet hours) are not held in the broker; the sweep sends them.
ALERTS_MAX_COUNTDOWN_SECONDS = env.float("ALERTS_MAX_COUNTDOWN_SECONDS", default=900.0)
# The routing-rule preview scans at most this many of the last day's cases.
ALERTS_PREVIEW_MAX_CASES = env.int("ALERTS_PREVIEW_MAX_CASES", default=5000)
CELERY_BEAT_SCHEDULE["alerts-sweep"] = {"task": "alerts.sweep", "schedule": 30.0}

# --- Risk levels by alert budget and case exposure (levels) -------------------------------------
# Share of normal traffic allowed to reach each level; at training time the model's thresholds
# are set on its out-of-sample calibration slice so about this much of it does
# (scoring.engine.levels).
# Environment: ALERT_BUDGETS=medium=0.01,high=0.002,critical=0.0005
# (checked when a model is trained: three shares between 0 and 1, shrinking upwards).
ALERT_BUDGETS = {
    level: float(share)
    for level, share in env.dict(
        "ALERT_BUDGETS", default={"medium": 0.01, "high": 0.002, "critical": 0.0005}
    ).items()
}
# Amount at risk (sum over a case's open transactions, in DEFAULT_CURRENCY) above which a case's
# priority is raised one step from its highest level (never above critical).
CASE_EXPOSURE_ESCALATION = Decimal(env.str("CASE_EXPOSURE_ESCALATION", default="10000"))

# --- Queue filters, snooze, merge, entity graph, live queue (filters) ---------------------------
# While a case is snoozed its SLA clock stops: the snoozed time is added to its due time on
# waking, and the SLA monitor does not escalate it meanwhile. False: the clock runs on.
CASE_SNOOZE_PAUSES_SLA = env.bool("CASE_SNOOZE_PAUSES_SLA", default=True)
# Longest snooze a person may set (days).
CASE_SNOOZE_MAX_DAYS = env.int("CASE_SNOOZE_MAX_DAYS", default=90)
# Entity graph of a case: transactions within this many days of its latest one, at most this
# many nodes (the graph says "truncated" when it was cut).
CASE_GRAPH_WINDOW_DAYS = env.int("CASE_GRAPH_WINDOW_DAYS", default=30)
CASE_GRAPH_MAX_NODES = env.int("CASE_GRAPH_MAX_NODES", default=200)
# Wake snoozed cases whose time has come.
CELERY_BEAT_SCHEDULE["cases-wake-snoozed"] = {
    "task": "fraudcases.wake_snoozed_cases",
    "schedule": 60.0,
}
# Routing: cases nobody had room for when they opened go out once someone has (services.routing).
CELERY_BEAT_SCHEDULE["cases-assign-waiting"] = {
    "task": "fraudcases.assign_waiting_cases",
    "schedule": 60.0,
}

# --- Account actions to core banking (acct; docs/alerts.md "Account actions") -------------------
# Kinds (block_card, hold_payments, allow_merchant) that wait for a supervisor other than the
# requester before they are sent. Default: holding payments (cuts the customer off from all of
# their money) and allow-listing a merchant (switches fraud controls off: the classic insider
# abuse); blocking a card is the narrow, time-critical first response and goes out at once.
# An unknown name is refused when an action is requested (a typo never switches approval off).
ACCOUNT_ACTIONS_APPROVAL_REQUIRED = env.list(
    "ACCOUNT_ACTIONS_APPROVAL_REQUIRED", default=["hold_payments", "allow_merchant"]
)
# Names of the API keys allowed to report results (POST /api/v1/account-actions/<id>/result);
# empty: any active key.
ACCOUNT_ACTIONS_RESULT_API_KEYS = env.list("ACCOUNT_ACTIONS_RESULT_API_KEYS", default=[])
