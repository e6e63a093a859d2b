"""Shared settings. Every secret and URL comes from the environment (django-environ).

Without ``DATABASE_URL`` / ``CELERY_BROKER_URL`` the project runs embedded: SQLite in WAL mode and
kombu's filesystem transport, so ``make demo`` needs no server installed.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

VAR_DIR = Path(env.str("FRAUDCASES_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "fraudcases",
    "scoring",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "fraudcases.middleware.RequestIdMiddleware",
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
                "fraudcases.context_processors.roles",
            ],
        },
    },
]

SQLITE_PATH = VAR_DIR / "fraudcases.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and beat processes read while one writes; IMMEDIATE transactions
    # take the write lock up front so concurrent writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Sent by fraudcases.middleware on every response (the API docs page gets a relaxed one).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DISPLAY_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing directory
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "private"  # attachments; never served directly

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scoring.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "fraudcases.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "fraudcases API",
    "DESCRIPTION": "Transaction ingestion, scoring results and case management.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# A batch of 5,000 transactions is ~2.5 MB of JSON; leave room but keep a hard ceiling.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

# --- Celery -----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
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
    "sweep-stale-pending": {"task": "scoring.sweep_pending", "schedule": 30.0},
}

# --- Domain -----------------------------------------------------------------------------------
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
INGEST_MAX_BATCH = 5000
# Risk score (0-100) at or above which a level applies; high and critical open a case.
RISK_LEVEL_THRESHOLDS = {"medium": 40, "high": 70, "critical": 90}
CASE_OPEN_LEVELS = ("high", "critical")
# Hours until a case of this priority breaches its SLA.
CASE_SLA_HOURS = {"critical": 4, "high": 24, "medium": 72, "low": 168}
# A transaction still pending this long is assumed lost (worker or broker died) and re-enqueued.
PENDING_SWEEP_AFTER_SECONDS = env.int("PENDING_SWEEP_AFTER_SECONDS", default=120)
MAX_SCORING_ATTEMPTS = 5
WORKER_HEARTBEAT_SECONDS = 10
WORKER_HEARTBEAT_STALE_SECONDS = 60
MODEL_STORE_DIR = Path(env.str("MODEL_STORE_DIR", default=str(VAR_DIR / "models")))
FEED_API_KEY_FILE = VAR_DIR / "feed-api-key"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Case workspace (issue 5) ------------------------------------------------------------------
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
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Login hardening: this many failures for one username from one address lock it for a while.
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
CELERY_BEAT_SCHEDULE["escalate-overdue-cases"] = {
    "task": "fraudcases.escalate_overdue_cases",
    "schedule": 300.0,
}

# --- Model lifecycle (issue 6) -----------------------------------------------------------------
# Population stability index above which a drift report raises an alert (0.1 moderate, 0.25 big).
DRIFT_PSI_THRESHOLD = env.float("DRIFT_PSI_THRESHOLD", default=0.2)
DRIFT_CURRENT_HOURS = env.int("DRIFT_CURRENT_HOURS", default=24)  # "now": the last 24 h
DRIFT_REFERENCE_DAYS = env.int("DRIFT_REFERENCE_DAYS", default=7)  # vs the 7 days before it
DRIFT_MIN_ROWS = env.int("DRIFT_MIN_ROWS", default=50)  # fewer rows in a window: no PSI
DRIFT_MAX_ROWS = env.int("DRIFT_MAX_ROWS", default=50_000)  # most recent rows read per window
CELERY_BEAT_SCHEDULE["drift-report"] = {"task": "scoring.drift_report", "schedule": 24 * 3600.0}
# Scheduled retraining of a challenger from synthetic + labelled history; off unless enabled.
MODEL_RETRAIN_ENABLED = env.bool("MODEL_RETRAIN_ENABLED", default=False)
MODEL_RETRAIN_INTERVAL_HOURS = env.float("MODEL_RETRAIN_INTERVAL_HOURS", default=24.0)
if MODEL_RETRAIN_ENABLED:
    CELERY_BEAT_SCHEDULE["retrain-challenger"] = {
        "task": "scoring.retrain_challenger",
        "schedule": MODEL_RETRAIN_INTERVAL_HOURS * 3600.0,
    }
# The "test this rule" preview looks at this many recent scored transactions at most.
RULE_PREVIEW_MAX = 50_000
# Anonymous users see only the login page and /healthz: the API schema and docs need a sign-in
# (or an API key).
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["rest_framework.permissions.IsAuthenticated"]
# People may call the case API with a personal token (``Authorization: Token <key>``, issued in
# the admin) as well as with their browser session.
INSTALLED_APPS.append("rest_framework.authtoken")
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].append(
    "rest_framework.authentication.TokenAuthentication"
)
