"""ScopeGate settings: one module, driven by the environment.

Nothing set: the embedded default (SQLite in the data folder, in-memory channel layer, eager Celery, email to
the console). ``DATABASE_URL`` and ``REDIS_URL``: PostgreSQL through psycopg 3 and Redis for the channel layer,
the Celery broker and the cache. ``SCOPEGATE_ENV=production``: refuses to start when unsafe.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from scopegate.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    new_key_ring,
    new_secret_key,
    parse_key_ring,
    persisted_secret,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SCOPEGATE_DATA_DIR") or BASE_DIR / "data")

ENVIRONMENT = env_str("SCOPEGATE_ENV", "development")
if ENVIRONMENT not in {"development", "production", "test"}:
    raise ImproperlyConfigured("SCOPEGATE_ENV must be development, production or test")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("SCOPEGATE_DEBUG", not PRODUCTION)

# --- secrets ---------------------------------------------------------------------------------------------
SECRET_KEY = env_str("SECRET_KEY") or ""
_raw_key_ring = env_str("SCOPEGATE_ENCRYPTION_KEYS") or ""
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("SCOPEGATE_DEBUG must be off in production")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured("production needs SECRET_KEY (or SECRET_KEY_FILE): 50+ random characters")
    if not _raw_key_ring:
        raise ImproperlyConfigured(
            "production needs SCOPEGATE_ENCRYPTION_KEYS (or SCOPEGATE_ENCRYPTION_KEYS_FILE), "
            "e.g. k1:$(head -c32 /dev/urandom | base64)"
        )
else:
    SECRET_KEY = SECRET_KEY or persisted_secret(DATA_DIR / "secret_key", generate=new_secret_key)
    _raw_key_ring = _raw_key_ring or persisted_secret(DATA_DIR / "encryption_keys", generate=new_key_ring)
ENCRYPTION_KEYS = parse_key_ring(_raw_key_ring)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("production needs ALLOWED_HOSTS (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The public base URL printed in endpoint URLs and e-mails, e.g. https://gate.example.com
PUBLIC_URL = (env_str("SCOPEGATE_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")

# --- applications ----------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "accounts",
    "connectors",
    "policies",
    "audit",
    "gateway",
]

MIDDLEWARE = [
    "scopegate.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "scopegate.middleware.InvalidFormStatusMiddleware",
    "audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "scopegate.urls"
ASGI_APPLICATION = "scopegate.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "accounts.context_processors.organizations",
            ],
        },
    },
]

# --- data ------------------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request may run on another thread: pool connections instead of keeping them.
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("SCOPEGATE_DB_POOL_MIN", 1),
            "max_size": env_int("SCOPEGATE_DB_POOL_MAX", 10, minimum=1),
            "timeout": 10,
        }
elif PRODUCTION:
    raise ImproperlyConfigured("production needs DATABASE_URL (postgres://...)")
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env_str("SCOPEGATE_SQLITE_PATH") or DATA_DIR / "db.sqlite3",
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not memory, so that a daphne process started by the tests sees the test database.
        "TEST": {"NAME": str(DATA_DIR / "test-db.sqlite3")},
    }
_db["ATOMIC_REQUESTS"] = False
DATABASES = {"default": _db}

REDIS_URL = env_str("REDIS_URL")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("production needs REDIS_URL (redis://...)")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("SCOPEGATE_CACHE_PREFIX", "sg"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times a socket read out after 5 s, exactly channels-redis' blocking pop: give the
                # read room, or every idle receive fails ("Timeout reading") and streams and listeners churn.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": env_str("SCOPEGATE_CHANNEL_PREFIX", "sg"),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ----------------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = env_bool("SCOPEGATE_CELERY_EAGER", not REDIS_URL or ENVIRONMENT == "test")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic jobs (run `celery -A scopegate beat` once per deployment).
CELERY_BEAT_SCHEDULE = {
    "audit-seal": {"task": "audit.seal", "schedule": float(env_int("SCOPEGATE_AUDIT_SEAL_SECONDS", 60, minimum=1))},
    "audit-retention": {"task": "audit.retention", "schedule": 3600.0},
    "audit-siem-push": {"task": "audit.siem_push_due", "schedule": 10.0},
}

# --- accounts --------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env_str("SCOPEGATE_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_RATE_LIMITS = False if ENVIRONMENT == "test" else {}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[ScopeGate] "
LOGIN_REDIRECT_URL = "root"
LOGIN_URL = "account_login"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_PROVIDERS: dict[str, dict] = {}
for _provider, _scope in (("github", ["read:user", "user:email"]), ("google", ["openid", "email", "profile"])):
    _client_id = env_str(f"SCOPEGATE_{_provider.upper()}_LOGIN_CLIENT_ID")
    _client_secret = env_str(f"SCOPEGATE_{_provider.upper()}_LOGIN_CLIENT_SECRET")
    if _client_id and _client_secret:
        SOCIALACCOUNT_PROVIDERS[_provider] = {
            "APPS": [{"client_id": _client_id, "secret": _client_secret}],
            "SCOPE": _scope,
            "OAUTH_PKCE_ENABLED": True,
        }
    elif _client_id or _client_secret:
        raise ImproperlyConfigured(
            f"set both SCOPEGATE_{_provider.upper()}_LOGIN_CLIENT_ID and _CLIENT_SECRET, or neither"
        )
# A provider's login URLs exist only once it is configured: an unconfigured one would fail on its first visit.
INSTALLED_APPS += [f"allauth.socialaccount.providers.{p}" for p in sorted(SOCIALACCOUNT_PROVIDERS)]

if ENVIRONMENT == "test":
    # Hashing strength is not under test; speed is.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INVITATION_TTL_DAYS = env_int("SCOPEGATE_INVITATION_TTL_DAYS", 7, minimum=1)

# --- email -----------------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ScopeGate <noreply@localhost>")
if env_str("EMAIL_FILE_PATH"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH")
elif env_str("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env_str("EMAIL_HOST")
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
elif PRODUCTION:
    raise ImproperlyConfigured("production needs EMAIL_HOST (SMTP) to send verification and invitation e-mails")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- gateway --------------------------------------------------------------------------------------------
# How long an upstream may take before the agent gets an error naming the connection.
UPSTREAM_TIMEOUT_SECONDS = env_int("SCOPEGATE_UPSTREAM_TIMEOUT_SECONDS", 30, minimum=1)
# Upstream URLs resolving to private, loopback or link-local addresses are refused unless the operator allows
# them (a try on one machine usually points at local servers; production refuses by default).
ALLOW_PRIVATE_UPSTREAMS = env_bool("SCOPEGATE_ALLOW_PRIVATE_UPSTREAMS", not PRODUCTION)
# Or only these networks among the private ones (comma-separated CIDRs, e.g. an internal subnet of MCP servers),
# without opening every private address (a cloud's metadata service, the database, Redis).
try:
    UPSTREAM_ALLOWED_NETWORKS = [ipaddress.ip_network(cidr) for cidr in env_list("SCOPEGATE_UPSTREAM_ALLOWED_NETWORKS")]
except ValueError as _exc:
    raise ImproperlyConfigured(f"SCOPEGATE_UPSTREAM_ALLOWED_NETWORKS: {_exc}") from None
# Local MCP servers a tenant may pick by name, as JSON: {"time": ["uvx", "mcp-server-time"]}. Tenants never
# type a command; only the operator's list is ever run.
try:
    STDIO_COMMANDS: dict[str, list[str]] = json.loads(env_str("SCOPEGATE_STDIO_COMMANDS") or "{}")
except ValueError as _exc:
    raise ImproperlyConfigured("SCOPEGATE_STDIO_COMMANDS must be a JSON object of name -> argv list") from _exc
if not isinstance(STDIO_COMMANDS, dict) or not all(
    isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in STDIO_COMMANDS.values()
):
    raise ImproperlyConfigured("SCOPEGATE_STDIO_COMMANDS must be a JSON object of name -> non-empty argv list")
# Bounded staleness of a node's cached policy when it missed an invalidation message.
POLICY_CACHE_SECONDS = env_int("SCOPEGATE_POLICY_CACHE_SECONDS", 5, minimum=0)
# How long a call under an "ask" rule waits for a person before it is refused.
APPROVAL_TIMEOUT_SECONDS = env_int("SCOPEGATE_APPROVAL_TIMEOUT_SECONDS", 300, minimum=1)
# How often a waiting call re-reads its approval (in case the channel layer lost the verdict) and tells the client
# it is still waiting (progress notifications): the most a lost message delays it.
APPROVAL_POLL_SECONDS = env_int("SCOPEGATE_APPROVAL_POLL_SECONDS", 2, minimum=1)
# Browser origins allowed to call /mcp/ besides the gateway's own hosts (DNS rebinding protection).
MCP_ALLOWED_ORIGINS = env_list("SCOPEGATE_MCP_ALLOWED_ORIGINS")
# Audit rows are committed durably (fsync'd) before a call is answered. Off: faster, but a PostgreSQL crash may
# lose the last fraction of a second of events (a gateway crash still loses none).
AUDIT_SYNCHRONOUS_COMMIT = env_bool("SCOPEGATE_AUDIT_SYNCHRONOUS_COMMIT", True)
# The key of the audit trail's hash chain (HMAC): kept out of the database so that rows cannot be re-chained
# by someone who can only write there. Derived from SECRET_KEY unless set; changing it makes verify report
# every older link, so set it explicitly before rotating SECRET_KEY.
AUDIT_CHAIN_KEY = env_str("SCOPEGATE_AUDIT_CHAIN_KEY") or ("audit-chain:" + SECRET_KEY)
# Off only to measure what auditing costs (bench/audit_bench.py); production refuses it.
AUDIT_ENABLED = env_bool("SCOPEGATE_AUDIT_ENABLED", True)
if ENVIRONMENT == "production" and not AUDIT_ENABLED:
    raise ImproperlyConfigured("production never runs without its audit trail: unset SCOPEGATE_AUDIT_ENABLED")
# How long a request waits for its audit event to be stored before it is refused (fail closed).
AUDIT_WRITE_TIMEOUT_SECONDS = env_int("SCOPEGATE_AUDIT_WRITE_TIMEOUT_SECONDS", 5, minimum=1)
# The most of a request's arguments an event keeps (JSON bytes); larger ones keep a preview.
AUDIT_ARGUMENTS_MAX_BYTES = env_int("SCOPEGATE_AUDIT_ARGUMENTS_MAX_BYTES", 8192)
# SIEM push: events older than the settle window go out in signed batches; failures back off exponentially.
AUDIT_SIEM_SETTLE_SECONDS = env_int("SCOPEGATE_AUDIT_SIEM_SETTLE_SECONDS", 5, minimum=0)
AUDIT_SIEM_BATCH = env_int("SCOPEGATE_AUDIT_SIEM_BATCH", 500, minimum=1)
AUDIT_SIEM_TIMEOUT_SECONDS = env_int("SCOPEGATE_AUDIT_SIEM_TIMEOUT_SECONDS", 10, minimum=1)
AUDIT_SIEM_BACKOFF_SECONDS = env_int("SCOPEGATE_AUDIT_SIEM_BACKOFF_SECONDS", 10, minimum=1)
AUDIT_SIEM_BACKOFF_MAX_SECONDS = env_int("SCOPEGATE_AUDIT_SIEM_BACKOFF_MAX_SECONDS", 3600, minimum=1)
MCP_MAX_BODY_BYTES = env_int("SCOPEGATE_MCP_MAX_BODY_BYTES", 4 * 1_048_576, minimum=1024)

# --- providers (Connect GitHub / Connect Google) ------------------------------------------------------------
# The OAuth apps ScopeGate connects services with. Their ids and secrets come from the environment (or from an
# organization's own app, entered on its settings page); the login apps' variables serve when these are unset.
PROVIDER_APPS: dict[str, dict[str, str]] = {}
for _provider in ("github", "google"):
    _prefix = f"SCOPEGATE_{_provider.upper()}"
    _client_id = env_str(f"{_prefix}_CLIENT_ID") or env_str(f"{_prefix}_LOGIN_CLIENT_ID") or ""
    _client_secret = env_str(f"{_prefix}_CLIENT_SECRET") or env_str(f"{_prefix}_LOGIN_CLIENT_SECRET") or ""
    if bool(_client_id) != bool(_client_secret):
        raise ImproperlyConfigured(f"set both {_prefix}_CLIENT_ID and {_prefix}_CLIENT_SECRET, or neither")
    if _client_id:
        PROVIDER_APPS[_provider] = {"client_id": _client_id, "client_secret": _client_secret}
# Where each provider lives. Tests point these at a local emulator; production refuses loopback and private hosts.
PROVIDER_URLS = {
    "github": {
        "oauth": (env_str("SCOPEGATE_GITHUB_OAUTH_URL") or "https://github.com").rstrip("/"),
        "api": (env_str("SCOPEGATE_GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
    },
    "google": {
        "accounts": (env_str("SCOPEGATE_GOOGLE_ACCOUNTS_URL") or "https://accounts.google.com").rstrip("/"),
        "oauth2": (env_str("SCOPEGATE_GOOGLE_OAUTH2_URL") or "https://oauth2.googleapis.com").rstrip("/"),
        "api": (env_str("SCOPEGATE_GOOGLE_API_URL") or "https://www.googleapis.com").rstrip("/"),
    },
}
if PRODUCTION:
    from scopegate.env import refuse_private_url

    for _provider, _urls in PROVIDER_URLS.items():
        for _name, _url in _urls.items():
            refuse_private_url(f"{_provider} {_name} URL", _url)
# How long ScopeGate waits for a provider's token endpoint or API before telling the person or agent.
PROVIDER_TIMEOUT_SECONDS = env_int("SCOPEGATE_PROVIDER_TIMEOUT_SECONDS", 15, minimum=1)
# Tokens expiring sooner than this are refreshed by the beat task (and by a call that meets them).
TOKEN_REFRESH_MARGIN_SECONDS = env_int("SCOPEGATE_TOKEN_REFRESH_MARGIN_SECONDS", 300, minimum=0)
CELERY_BEAT_SCHEDULE["refresh-expiring-tokens"] = {
    "task": "connectors.tasks.credentials_refresh_due",
    "schedule": 120.0,
}

# --- HTTP ------------------------------------------------------------------------------------------------
# Bodies larger than this answer 413 before anything reads them.
MAX_BODY_BYTES = env_int("SCOPEGATE_MAX_BODY_BYTES", 1_048_576, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# A permission matrix posts a field per checked tool; the body limit above still bounds the request.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SCOPEGATE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SCOPEGATE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SCOPEGATE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SCOPEGATE_HSTS_PRELOAD", False)
    if env_bool("SCOPEGATE_BEHIND_TLS_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SILENCED_SYSTEM_CHECKS = (
        []
        if SECURE_HSTS_PRELOAD
        else [
            # Preloading a domain into browsers is the operator's decision (SCOPEGATE_HSTS_PRELOAD=1), not ours.
            "security.W021",
        ]
    )

# --- REST API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "scopegate.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ScopeGate API",
    "DESCRIPTION": "Manage organizations, members, connections, agents and policies of a ScopeGate gateway.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.models.Membership.Role",
        "TokenRoleEnum": "accounts.roles.TOKEN_ROLE_CHOICES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # The HTTP and MCP client libraries log upstream URLs, which may carry a credential: cut to scheme and host.
    "filters": {"scrub_upstream_urls": {"()": "connectors.egress.ScrubUpstreamUrls"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["scrub_upstream_urls"]}
    },
    "root": {"handlers": ["console"], "level": env_str("SCOPEGATE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # Request lines may carry upstream URLs; never at INFO.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
