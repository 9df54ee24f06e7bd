"""Every setting comes from the environment; docs/configuration.md lists them.

A bad value stops start-up with ImproperlyConfigured naming the variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from listkeeper.lib.serveurl import serve_url

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str = "") -> str:
    # Empty means unset, as for the other helpers: compose passes `${NAME:-}`
    # through as an empty string when .env leaves a variable blank.
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_secret(name: str, default: str = "") -> str:
    """NAME, or the contents of the file NAME_FILE points at (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={path!r} cannot be read: {exc.strerror}"
            ) from None
    return os.environ.get(name, default)


def env_hostport(name: str, default: str) -> tuple[str, int]:
    raw = os.environ.get(name) or default
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ImproperlyConfigured(f"{name}={raw!r} must be host:port, e.g. 127.0.0.1:8024")
    return host.strip("[]"), int(port)


DATA_DIR = Path(env("LISTKEEPER_DATA_DIR") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_secret("SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)

LISTKEEPER_DOMAIN = env("LISTKEEPER_DOMAIN", "lists.example.org").lower()
# Where `listkeeper serve` runs the web app.
SERVE = env_hostport("SERVE", "127.0.0.1:8000")


# Links in mail and the sign-in URL `serve` prints. Unset, it follows SERVE, so a
# newcomer who moves the web app (SERVE=127.0.0.1:8080) gets links that work.
SITE_URL = (env("SITE_URL") or serve_url(*SERVE)).rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.hostname:
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} must be an http or https URL")
SITE_HTTPS = _site.scheme == "https"

ALLOWED_HOSTS = [_site.hostname, "127.0.0.1", "localhost"] + [
    h for h in env("ALLOWED_HOSTS").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [f"{_site.scheme}://{_site.netloc}"]

# SES and the relay Postfix hands list mail to.
SES_REGION = env("SES_REGION", "eu-west-2")
SES_USER = env_secret("SES_USER")
SES_PASS = env_secret("SES_PASS")
RELAY_HOST = env_hostport("RELAY_HOST", f"email-smtp.{SES_REGION}.amazonaws.com:587")
RELAY_TLS_CA_FILE = env("RELAY_TLS_CA_FILE", "/etc/ssl/certs/ca-certificates.crt")
SES_MAX_SEND_RATE = env_float("SES_MAX_SEND_RATE", 14.0)
# The worker paces at this fraction of its share of the rate, so that the
# jitter Postfix adds between hand-off and SES stays inside the quota
# (docs/postfix.md, "Pacing where SES counts").
SES_RATE_HEADROOM = env_float("SES_RATE_HEADROOM", 0.97, minimum=0.5)
if SES_RATE_HEADROOM > 1:
    raise ImproperlyConfigured(f"SES_RATE_HEADROOM={SES_RATE_HEADROOM} must be at most 1")
# Postfix's connections to the relay at once (the `ses` transport's concurrency).
RELAY_CONCURRENCY = env_int("RELAY_CONCURRENCY", 20, minimum=1)
if SES_USER and not SES_PASS:
    raise ImproperlyConfigured(
        "SES_USER is set but SES_PASS (or SES_PASS_FILE) is empty; set both or neither"
    )
if SES_PASS and not SES_USER:
    raise ImproperlyConfigured(
        "SES_PASS is set but SES_USER (or SES_USER_FILE) is empty; set both or neither"
    )
# "secure" verifies the relay's certificate; "none" is for a local test catcher only.
RELAY_TLS = env("RELAY_TLS", "secure")
if RELAY_TLS not in ("secure", "none"):
    raise ImproperlyConfigured(f"RELAY_TLS={RELAY_TLS!r} must be secure or none")
SES_SNS_TOPIC_ARNS = [a for a in env("SES_SNS_TOPIC_ARNS").split(",") if a]
# The account's real quota, read through the SES API with boto3 (the optional
# `ses` extra) and AWS API credentials from boto3's usual places (environment,
# AWS_SHARED_CREDENTIALS_FILE, an instance role); SMTP credentials cannot call
# the API. Every SES_QUOTA_REFRESH seconds (0: never); asked only when
# RELAY_HOST is SES's SMTP endpoint or SES_API_ENDPOINT names an API endpoint.
# See docs/ses.md, "Send rate and 24-hour quota".
SES_QUOTA_REFRESH = env_float("SES_QUOTA_REFRESH", 300.0)
SES_API_ENDPOINT = env("SES_API_ENDPOINT")

# Where the parts listen.
LMTP_LISTEN = env_hostport("LMTP_LISTEN", "127.0.0.1:8024")
SMTP_LISTEN = env_hostport("SMTP_LISTEN", "127.0.0.1:2525")
REINJECT_HOST = env_hostport("REINJECT_HOST", "127.0.0.1:10025")
# The hand-off policy service (listkeeper/delivery/handoff.py): Postfix's
# reinjection smtpd asks it at the end of each personalised copy's data, and it
# records the copy as handed before Postfix answers 250 (docs/postfix.md, "The
# at-least-once boundary"). HANDOFF_POLICY is where Postfix reaches it;
# HANDOFF_POLICY_LISTEN where lmtpd (or serve) listens, by default the same.
HANDOFF_POLICY = env_hostport("HANDOFF_POLICY", "127.0.0.1:10031")
HANDOFF_POLICY_LISTEN = env_hostport("HANDOFF_POLICY_LISTEN", "{}:{}".format(*HANDOFF_POLICY))
# Clients the reinjection smtpd accepts mail from (Postfix mynetworks syntax).
REINJECT_NETWORKS = env("REINJECT_NETWORKS", "127.0.0.0/8").replace(",", " ").split()
# The name Postfix greets with and uses in HELO; must be fully qualified.
POSTFIX_HOSTNAME = env("POSTFIX_HOSTNAME", LISTKEEPER_DOMAIN).lower()
if "." not in POSTFIX_HOSTNAME:
    raise ImproperlyConfigured(
        f"POSTFIX_HOSTNAME={POSTFIX_HOSTNAME!r} must be a fully qualified name"
    )
MAX_MESSAGE_SIZE = env_int("MAX_MESSAGE_SIZE", 10 * 1024 * 1024, minimum=1024)
WORKER_CONNECTIONS = env_int("WORKER_CONNECTIONS", 4, minimum=1)


def _nameservers(name: str, value: str) -> list[tuple[str, int]]:
    """`host[:port]` items, comma-separated (IPv6 in brackets: `[::1]:53`)."""
    servers = []
    for item in value.replace(" ", ",").split(","):
        if not item:
            continue
        if item.startswith("[") or item.count(":") == 1:
            host, _, port = item.rpartition(":") if not item.endswith("]") else (item, "", "53")
        else:
            host, port = item, "53"
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(
                f"{name}={value!r} must list host or host:port items, e.g. 127.0.0.1:53"
            )
        servers.append((host, int(port)))
    return servers


# Post authentication (DKIM, SPF, DMARC): the resolver to ask (empty: the
# system's, /etc/resolv.conf) and how long one lookup may take, in seconds.
DNS_NAMESERVERS = _nameservers("DNS_NAMESERVERS", env("DNS_NAMESERVERS"))
DNS_TIMEOUT = env_float("DNS_TIMEOUT", 2.0, minimum=0.1)

# A worker whose heartbeat is older than this is dead; its claims go back to pending.
WORKER_STALE_AFTER = env_float("WORKER_STALE_AFTER", 15.0, minimum=1.0)
WORKER_NAME = env("WORKER_NAME")
# `serve` without SES_USER: where the local catcher listens (port 0: any free port).
CATCHER_LISTEN = env_hostport("CATCHER_LISTEN", "127.0.0.1:0")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "ninja",
    "listkeeper",
    "listkeeper.lists",
    "listkeeper.delivery",
    "listkeeper.archive",
    "listkeeper.mail",
    "listkeeper.lmtp",
    "listkeeper.postfix",
    "listkeeper.web",
    "listkeeper.api",
    "listkeeper.feedback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "listkeeper.web.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "listkeeper.urls"
WSGI_APPLICATION = "listkeeper.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Every template lives in an app (mail templates in listkeeper/mail/templates/),
        # so a wheel install finds them as well as an editable one.
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "listkeeper.web.context.interface",
            ],
        },
    },
]


def _database() -> dj_database_url.DBConfig:
    """DATABASE_URL; or, under compose, DATABASE_HOST/PORT/NAME/USER and a password file.

    Compose keeps the password in a secret file, so no URL holding it exists
    anywhere (not in `docker inspect`, not in a process environment), and every
    process in the container, `docker compose exec web listkeeper ...` included,
    finds the same database as the entrypoint's.
    """
    url = env("DATABASE_URL")
    if not url and env("DATABASE_HOST"):
        host, port = env("DATABASE_HOST"), env("DATABASE_PORT", "5432")
        if not port.isdigit():
            raise ImproperlyConfigured(f"DATABASE_PORT={port!r} is not a port number")
        # Parsed without credentials, then given them as they are: the password
        # needs no URL quoting and may hold any character.
        database = dj_database_url.parse(
            f"postgres://{host}:{port}/{env('DATABASE_NAME', 'listkeeper')}", conn_max_age=60
        )
        database["USER"] = env("DATABASE_USER", "listkeeper")
        database["PASSWORD"] = env_secret("DATABASE_PASSWORD")
        return database
    try:
        return dj_database_url.parse(
            url or f"sqlite:///{DATA_DIR / 'listkeeper.sqlite3'}", conn_max_age=60
        )
    except Exception as exc:  # dj_database_url raises several kinds
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None


DATABASES = {"default": _database()}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets the web, LMTP and worker threads read while one writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
else:
    # A database host that went away without a reset (a stopped container, a
    # failed-over server) would hold a connect for the OS's TCP timeout, about
    # two minutes: the worker, lmtpd and the healthchecks give up sooner.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 10, minimum=1)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Counters for throttling public forms. Local memory is per process: fine for
# one process (`listkeeper serve`); with several web processes use the
# database (`db://TABLE`, then `listkeeper createcachetable`) or Redis.
_cache_url = urlsplit(env("CACHE_URL", "locmem://"))
if _cache_url.scheme == "locmem":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif _cache_url.scheme == "db":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": _cache_url.netloc or "listkeeper_cache",
        }
    }
elif _cache_url.scheme in ("redis", "rediss"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("CACHE_URL"),
        }
    }
else:
    raise ImproperlyConfigured(
        f"CACHE_URL={env('CACHE_URL')!r} is not supported; use locmem://, db://TABLE or redis://HOST:PORT/DB"
    )

# Public pages: double opt-in links and throttles against mail-bombing.
CONFIRM_LINK_DAYS = env_int("CONFIRM_LINK_DAYS", 7, minimum=1)
THROTTLE_WINDOW = env_int("THROTTLE_WINDOW", 3600, minimum=1)  # seconds
THROTTLE_PER_ADDRESS = env_int("THROTTLE_PER_ADDRESS", 3, minimum=1)
THROTTLE_PER_CLIENT = env_int("THROTTLE_PER_CLIENT", 20, minimum=1)
# How many reverse proxies in front of the web app append to X-Forwarded-For;
# 0 trusts none and throttles by REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
# One account from one client address: failures for one account neither lock
# other accounts on the same address (a shared office or proxy) nor lock that
# account from everywhere (anyone could otherwise lock an admin out by name).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client address as TRUSTED_PROXY_COUNT says (behind a TLS proxy REMOTE_ADDR
# is the proxy, shared by everyone).
AXES_CLIENT_IP_CALLABLE = "listkeeper.web.client.client_ip"
AXES_VERBOSE = False  # its start-up banner would clutter every command's output
# The lockout page says the same whether or not the account exists.
AXES_LOCKOUT_TEMPLATE = "web/auth/locked_out.html"
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600
# Bulk imports run in a thread of the web process; tests turn this off to run
# them inline inside the test's transaction.
BULK_IMPORT_THREADS = True

LANGUAGE_CODE = "en"
# The languages of the pages and of the mail Listkeeper writes. Public pages
# follow the browser (Accept-Language); the footer's switch sets a cookie;
# notices to a member use the member's preferred language.
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
# Catalogues: the .po files are committed, the .mo files are compiled by
# `make install` (listkeeper compilemessages) and the image build.
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The app image collects static files at build time, outside the data volume.
STATIC_ROOT = Path(env("STATIC_ROOT") or DATA_DIR / "static")
try:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request while it is missing
except OSError:
    pass  # a read-only image: collectstatic made it at build time, or the warning is harmless
# Serve the apps' static files straight from the package: no collectstatic step.
WHITENOISE_USE_FINDERS = True

# Mail we send ourselves (confirmations, notices) goes through our own Postfix.
EMAIL_HOST, EMAIL_PORT = REINJECT_HOST
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"listkeeper@{LISTKEEPER_DOMAIN}")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

SESSION_COOKIE_SECURE = SITE_HTTPS
CSRF_COOKIE_SECURE = SITE_HTTPS
SECURE_HSTS_SECONDS = 31536000 if SITE_HTTPS else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if env("SECURE_PROXY_SSL_HEADER") == "X-Forwarded-Proto":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Logs: one line per event on stderr; LOG_FORMAT=json for log shippers.
# Mail-path code logs through listkeeper.lib.log (Message-ID and list on every line).
LOG_FORMAT = env("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "listkeeper.lib.log.JsonFormatter"},
    },
    "filters": {"redact_tokens": {"()": "listkeeper.lib.log.RedactTokens"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # aiosmtpd logs every SMTP command at INFO.
        "mail.log": {"level": "WARNING"},
    },
}

EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"

# Health and metrics (listkeeper/web/health.py, web/metrics.py, docs/operations.md).
# /metrics needs "Authorization: Bearer METRICS_TOKEN"; without a token it answers
# only requests from the loopback address (a scraper in the same container/host).
METRICS_TOKEN = env_secret("METRICS_TOKEN")
# /healthz fails when no worker has reported for this many seconds (0: not checked).
HEALTH_WORKER_MAX_AGE = env_int("HEALTH_WORKER_MAX_AGE", 120)
# How /healthz and /metrics read Postfix's queue: a command printing `postqueue -j`
# output (hosts where Postfix runs beside the app), or the status file the Postfix
# container's healthcheck writes to a shared volume. Neither set: not checked.
POSTQUEUE_COMMAND = env("POSTQUEUE_COMMAND")
POSTFIX_QUEUE_STATUS_FILE = env("POSTFIX_QUEUE_STATUS_FILE")
MIDDLEWARE.insert(0, "listkeeper.web.metrics.RequestLatencyMiddleware")
