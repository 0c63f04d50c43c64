"""Settings, all from the environment: the same code runs the demo and production.

DATABASE_URL    sqlite:///path (default: db.sqlite3 beside the project) or postgres://…
DATABASE_PREPARED 1 (default): PostgreSQL binds parameters and prepares statements; 0 for a
                pooler in transaction mode (PgBouncer without max_prepared_statements)
REDIS_URL       redis://… switches the cache to Redis (default: local memory)
SECRET_KEY      required when DEBUG and CRENEAU_DEMO are off (otherwise generated once into
                the ignored file .secret_key)
FIELD_ENCRYPTION_KEYS  the keys that encrypt personal data, "<id>:<base64 32 bytes>" separated
                by commas, the first one current; with BLIND_INDEX_KEY (base64 32 bytes), the
                key of the blind indexes. Or FIELD_KEYS_FILE: a file with both. Required when
                DEBUG and CRENEAU_DEMO are off (otherwise generated once into the ignored file
                .field_keys). Lost keys are lost data: docs/operations.md, "Keys"
DEBUG           "1" for development
ALLOWED_HOSTS   comma-separated (default: 127.0.0.1, localhost and PUBLIC_URL's host)
CRENEAU_DEMO    "1" exposes demo-only pages and endpoints
PUBLIC_URL      the portal's address, for links in messages; required when DEBUG and
                CRENEAU_DEMO are off (otherwise default http://127.0.0.1:8000)

Sending messages (manage.py outbox_send):
EMAIL_HOST      SMTP server; unset: e-mails are printed (Django's console backend)
EMAIL_PORT      default 587
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD   SMTP login, when the server wants one
EMAIL_USE_TLS   "1" (default) STARTTLS; "0" plain
EMAIL_TIMEOUT   seconds before an SMTP exchange counts as failed (default 10)
DEFAULT_FROM_EMAIL  the sender of e-mails (default "Créneau <ne-pas-repondre@creneau.localhost>")
SMS_BACKEND     dotted path (default creneau.outreach.sms.ConsoleBackend: printed);
                creneau.outreach.sms.HttpBackend in production
SMS_HTTP_URL    the provider's endpoint (HttpBackend): POST {"to", "text", "sender"}
SMS_HTTP_TOKEN  sent as "Authorization: Bearer …"
SMS_HTTP_TIMEOUT  seconds (default 10)
SMS_SENDER      the sender name shown on phones (default "Creneau"; 11 letters or digits)
SMS_REGIONS     the countries and territories SMS go to, ISO codes separated by commas
                (default: France with its overseas departments and territories)
OUTBOX_RATE_SMS, OUTBOX_RATE_EMAIL  messages a second all workers together send on each
                channel (default 30 and 100; 0 no limit)
OUTBOX_QUIET_HOURS  when no reminder or invitation goes out, Paris time (default
                "21:00-08:00"; "" none): they wait for the morning
SMS_WEBHOOK_SECRET  the secret the provider signs its webhook with (receipts, STOP);
                unset, the webhook refuses everything
SMS_WEBHOOK_TOLERANCE_SECONDS  how old a signed webhook request may be (default 300)
REMINDER_HOURS_BEFORE  a reminder goes this long before each appointment (default 48)
REMINDERS_BY_LETTER "1": contacts with only a postal address get reminders by letter

Abuse limits, counted in Redis when REDIS_URL is set, in the database otherwise (and while
Redis does not answer); each is "<hits>/<seconds>", several separated by commas, "0" off;
a limit spent is answered 429 with Retry-After (see docs/operations.md):
LIMIT_CODES_PER_NUMBER     codes sent to one phone number or e-mail (default "5/3600,10/86400",
                           and never more than one a minute)
LIMIT_CODES_PER_ADDRESS    codes asked from one IP address (default "20/3600")
LIMIT_SMS_PER_MINUTE       SMS codes sent by the whole service (default "600/60": the
                           provider's contract)
LIMIT_HOLDS_PER_CLIENT     holds one client takes (default "12/600": choosing and leaving
                           slots again and again is slowed)
LIMIT_BOOKINGS_PER_CONTACT bookings tried with one contact (default "10/86400")
HOLDS_PER_CLIENT           live holds one client keeps (default 2: the oldest is released;
                           0 no limit)
HOLDS_PER_ADDRESS          live holds from one IP address (default 8; 0 no limit)
REDIS_TIMEOUT              seconds before Redis counts as not answering (default 0.25)

The waiting room in front of the booking flow (creneau/admission/waiting_room.py):
WAITING_ROOM_RATE          people admitted a minute; 0 (default) turns the room off; "auto"
                           follows the measured capacity: the rate rises while admitted
                           requests answer within WAITING_ROOM_LATENCY_TARGET seconds (0.5)
                           and falls when they do not, between WAITING_ROOM_RATE_MIN (60)
                           and WAITING_ROOM_RATE_MAX (60000)
WAITING_ROOM_OPENS_AT      a scheduled opening, ISO 8601 ("2027-01-18T08:00+01:00"): people
                           waiting before it are admitted in random order from it
WAITING_ROOM_PASS_MINUTES  how long an admitted visitor may stay idle in the flow (15)
WAITING_ROOM_BURST_SECONDS how many seconds' worth of admissions may go at once (1)

Operating (the block at the end; docs/operations.md): DATABASE_CONNECT_TIMEOUT,
DATABASE_RETRY_AFTER_SECONDS, METRICS_TOKEN, METRICS_ALLOWED_IPS, WORKER_HEARTBEAT_MAX_AGE,
OUTBOX_BACKLOG_MAX_AGE, LOG_LEVEL, LOG_FORMAT, SENTRY_DSN, SENTRY_ENVIRONMENT,
PROMETHEUS_MULTIPROC_DIR.
"""

import base64
import os
import secrets
import tempfile
from datetime import datetime
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


DEBUG = env_flag("DEBUG")
DEMO = env_flag("CRENEAU_DEMO")
SECRET_KEY = os.environ.get("SECRET_KEY", "")


def local_secret_key(path: Path, *, make=lambda: secrets.token_urlsafe(50)) -> str:
    """Development, the demo and tests: a random key made once per checkout into an
    ignored file, never a published one (whoever knows the key forges contact and
    rebooking tokens). Processes starting together agree: the first link wins."""
    if path.exists():
        return path.read_text().strip()
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(make())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()


if not SECRET_KEY:
    if not (DEBUG or DEMO or os.environ.get("PYTEST_VERSION")):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG and CRENEAU_DEMO are off.")
    SECRET_KEY = local_secret_key(BASE_DIR / ".secret_key")

# Personal data encrypted at rest (creneau.core.crypto; docs/operations.md, "Keys"): the
# data keys, "<id>:<base64 key>" separated by commas, the first one writing, and the key
# of the blind indexes; or a file holding both, one "<id>:<key>" a line and "blind:<key>".
FIELD_ENCRYPTION_KEYS = [k for k in os.environ.get("FIELD_ENCRYPTION_KEYS", "").split(",") if k]
BLIND_INDEX_KEY = os.environ.get("BLIND_INDEX_KEY", "")
FIELD_KEYS_FILE = os.environ.get("FIELD_KEYS_FILE", "")
if not (FIELD_ENCRYPTION_KEYS or FIELD_KEYS_FILE):
    if not (DEBUG or DEMO or os.environ.get("PYTEST_VERSION")):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY, or FIELD_KEYS_FILE, must be set when "
            "DEBUG and CRENEAU_DEMO are off: they encrypt the personal data."
        )
    FIELD_KEYS_FILE = str(BASE_DIR / ".field_keys")

    def field_key() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()

    local_secret_key(Path(FIELD_KEYS_FILE), make=lambda: f"1:{field_key()}\nblind:{field_key()}\n")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dsfr",
    "widget_tweaks",
    "django_htmx",
    # Serves the API docs' Swagger UI from our static files, not from a CDN.
    "ninja",
    "creneau.core",
    "creneau.admission",
    "creneau.geography",
    "creneau.sites",
    "creneau.vaccines",
    "creneau.scheduling",
    "creneau.eligibility",
    "creneau.outreach",
    "creneau.audit",
    "creneau.booking",
    "creneau.care",
    "creneau.privacy",
    "creneau.waitlist",
    "creneau.alerts",
    "creneau.stats",
    "creneau.interop",
    "creneau.api",
    "creneau.staff",
    "creneau.portal",
    "creneau.backoffice",
    "creneau.callcenter",
    "creneau.demo",
    "creneau.campaigns",
    "creneau.onboarding",
]

MIDDLEWARE = [
    # First: a request id, and one log line and count per request, whatever answered.
    "creneau.core.middleware.RequestLog",
    "creneau.core.middleware.DatabaseUnavailable",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "creneau.admission.middleware.GateAnswer",
    "creneau.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "creneau.portal.middleware.DomainErrorPage",
]

ROOT_URLCONF = "creneau.urls"
WSGI_APPLICATION = "creneau.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "creneau.portal.context.portal",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Connections are kept a minute and checked before each request reuses one, so that a
# restarted server is reconnected at the next request instead of answering errors.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at
        # BEGIN so that two writers queue instead of deadlocking on a lock upgrade.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory: concurrency tests open it from several threads and processes.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("TEST_SQLITE_NAME")
        or str(Path(tempfile.gettempdir()) / f"creneau-test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME")}
    # A server that is down answers "refused" at once; one that is unreachable would
    # otherwise hold the request for the operating system's TCP timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "3"))
    )
    # Parameters bound by the server and statements prepared after a few uses on a
    # connection: PostgreSQL parses and plans the hot path's statements once per
    # connection, not once per request (issue 15: its CPU per course about halved).
    # DATABASE_PREPARED=0 turns both off, for a pooler in transaction mode (PgBouncer
    # without max_prepared_statements), which cannot keep a session's statements.
    if os.environ.get("DATABASE_PREPARED", "1") != "0":
        DATABASES["default"]["OPTIONS"] |= {"server_side_binding": True, "prepare_threshold": 5}

REDIS_URL = os.environ.get("REDIS_URL")
REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "0.25"))
if REDIS_URL:
    # Redis stopping turns the cache into misses, not errors (creneau/core/cache.py).
    CACHES = {
        "default": {
            "BACKEND": "creneau.core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# ---------------------------------------------------------------------------------------
# Staff sign-in (issue 16): passwords, the second factor, throttling, idle timeout and
# password reset. docs/operations.md "Staff accounts" says how to operate them.
INSTALLED_APPS += [
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]
# request.user.is_verified(): the second factor was given in this session; then the idle
# timeout, which signs out and says why (after the user and the messages are known).
_after_messages = MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1
MIDDLEWARE[_after_messages:_after_messages] = [
    "django_otp.middleware.OTPMiddleware",
    "creneau.staff.middleware.StaffIdleTimeout",
]
# Refused with a French message each: too short, among the most common passwords (French
# and English lists), built on a word of the context (the account's names, its sites,
# "vaccin", "creneau", French towns), or guessed too soon by zxcvbn's estimator.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "creneau.staff.passwords.FrenchCommonPasswordValidator"},
    {"NAME": "creneau.staff.passwords.ContextPasswordValidator"},
    {"NAME": "creneau.staff.passwords.GuessablePasswordValidator"},
]
LOGIN_URL = "backoffice:login"
LOGIN_REDIRECT_URL = "backoffice:home"
# A staff sign-in lasts a working day at most...
STAFF_SESSION_SECONDS = int(os.environ.get("STAFF_SESSION_SECONDS", str(8 * 3600)))
# ...and ends after this many minutes without a request (a screen left open at a desk).
STAFF_IDLE_MINUTES = int(os.environ.get("STAFF_IDLE_MINUTES", "30"))
# The name an authenticator app shows beside the code.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Créneau")
# Failed sign-ins from one address, whatever the account (password spraying), before that
# address is refused until the window ends: "<hits>/<seconds>", several with commas.
LIMIT_SIGN_IN_FAILURES_PER_ADDRESS = os.environ.get(
    "LIMIT_SIGN_IN_FAILURES_PER_ADDRESS", "30/3600,100/86400"
)
# Password reset e-mails asked from one address (sent with Django's send_mail through
# EMAIL_BACKEND below, never through the outbox, which would keep the link).
LIMIT_PASSWORD_RESETS_PER_ADDRESS = os.environ.get("LIMIT_PASSWORD_RESETS_PER_ADDRESS", "5/3600")
# A password reset link works once, for this long.
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(3600)))
# ---------------------------------------------------------------------------------------

# A booking in progress lives in the session; with Redis, reads of it skip the database.
# Its data is encrypted at rest like the booking tables' (creneau/core/sessions).
SESSION_ENGINE = "creneau.core.sessions." + ("cached_db" if REDIS_URL else "db")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "creneau" / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes (nginx may serve it: deploy/nginx); STATIC_ROOT moves it.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")


# Booking: how long a chosen slot is kept while the person types.
HOLD_MINUTES = int(os.environ.get("HOLD_MINUTES", "10"))

# Retention (creneau/privacy, `manage.py retention_purge`, daily; docs/operations.md has
# the table of what, how long and why). Hours or days after which each kind goes.
RETENTION_CONTACT_UNUSED_HOURS = int(os.environ.get("RETENTION_CONTACT_UNUSED_HOURS", "24"))
RETENTION_VERIFICATION_HOURS = int(os.environ.get("RETENTION_VERIFICATION_HOURS", "24"))
RETENTION_HOLD_DAYS = int(os.environ.get("RETENTION_HOLD_DAYS", "7"))
RETENTION_IDEMPOTENCY_DAYS = int(os.environ.get("RETENTION_IDEMPOTENCY_DAYS", "7"))
RETENTION_MESSAGE_DAYS = int(os.environ.get("RETENTION_MESSAGE_DAYS", "30"))
RETENTION_COURSE_DAYS = int(os.environ.get("RETENTION_COURSE_DAYS", "92"))
# The population to invite (campaigns.Invitee) and its invitations: once no import has
# changed a person, no campaign not stopped covers their department and nothing was sent
# to them for this long.
RETENTION_INVITEE_DAYS = int(os.environ.get("RETENTION_INVITEE_DAYS", "180"))
RETENTION_WAITLIST_DAYS = int(os.environ.get("RETENTION_WAITLIST_DAYS", "30"))
RETENTION_ALERT_DAYS = int(os.environ.get("RETENTION_ALERT_DAYS", "30"))
RETENTION_APPLICATION_DAYS = int(os.environ.get("RETENTION_APPLICATION_DAYS", "365"))
# Set by the authority in charge of the campaign (a setting until it has a screen): how
# long staff access and actions stay in the audit log, whole sealed days.
AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", "365"))
# Off (0) when the application's database role may not delete audit rows (as it should
# not in production): the owner then runs `retention_purge --audit-only`.
RETENTION_AUDIT_PURGE = env_flag("RETENTION_AUDIT_PURGE", default=True)
# Rows a purge deletes per transaction: short locks, however much there is to purge.
RETENTION_BATCH = int(os.environ.get("RETENTION_BATCH", "500"))

# Abuse limits (creneau/admission/limits.py): see the top of this file.
LIMIT_CODES_PER_NUMBER = os.environ.get("LIMIT_CODES_PER_NUMBER", "5/3600,10/86400")
LIMIT_CODES_PER_ADDRESS = os.environ.get("LIMIT_CODES_PER_ADDRESS", "20/3600")
LIMIT_SMS_PER_MINUTE = os.environ.get("LIMIT_SMS_PER_MINUTE", "600/60")
LIMIT_HOLDS_PER_CLIENT = os.environ.get("LIMIT_HOLDS_PER_CLIENT", "12/600")
LIMIT_BOOKINGS_PER_CONTACT = os.environ.get("LIMIT_BOOKINGS_PER_CONTACT", "10/86400")
# Sites' applications to join (/adherer/) sent from one network (creneau/onboarding).
LIMIT_APPLICATIONS_PER_ADDRESS = os.environ.get("LIMIT_APPLICATIONS_PER_ADDRESS", "5/3600,20/86400")
# The dose allocation's table sends a field per site and vaccine: a region's thousands of
# sites, over Django's default of 1,000 fields (the body's size limit still applies).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 25_000
HOLDS_PER_CLIENT = int(os.environ.get("HOLDS_PER_CLIENT", "2"))
HOLDS_PER_ADDRESS = int(os.environ.get("HOLDS_PER_ADDRESS", "8"))
WAITING_ROOM_AUTO = os.environ.get("WAITING_ROOM_RATE", "") == "auto"
WAITING_ROOM_RATE = 0.0 if WAITING_ROOM_AUTO else float(os.environ.get("WAITING_ROOM_RATE", "0"))
WAITING_ROOM_RATE_MIN = float(os.environ.get("WAITING_ROOM_RATE_MIN", "60"))
WAITING_ROOM_RATE_MAX = float(os.environ.get("WAITING_ROOM_RATE_MAX", "60000"))
WAITING_ROOM_LATENCY_TARGET = float(os.environ.get("WAITING_ROOM_LATENCY_TARGET", "0.5"))
WAITING_ROOM_OPENS_AT = (
    datetime.fromisoformat(os.environ["WAITING_ROOM_OPENS_AT"])
    if os.environ.get("WAITING_ROOM_OPENS_AT")
    else None
)
WAITING_ROOM_PASS_MINUTES = int(os.environ.get("WAITING_ROOM_PASS_MINUTES", "15"))
WAITING_ROOM_BURST_SECONDS = float(os.environ.get("WAITING_ROOM_BURST_SECONDS", "1"))
# Metropolitan France and every overseas department and territory with French numbers.
SMS_REGIONS = frozenset(
    os.environ.get("SMS_REGIONS", "FR,GP,MQ,GF,RE,YT,PM,BL,MF,WF,PF,NC").upper().split(",")
)

# Where people reach the portal; messages carry a link to manage their booking. No
# guess in production: a link to the wrong server is a message nobody can act on.
PUBLIC_URL = os.environ.get("PUBLIC_URL", "").rstrip("/")
if not PUBLIC_URL:
    if not (DEBUG or DEMO or os.environ.get("PYTEST_VERSION")):
        raise ImproperlyConfigured(
            "PUBLIC_URL must be set when DEBUG and CRENEAU_DEMO are off: the address people "
            "open the portal at, e.g. https://creneau.example.fr (links in messages start "
            "with it)."
        )
    # runserver's own address; `make demo` passes the HOST and PORT it serves.
    PUBLIC_URL = "http://127.0.0.1:8000"
PUBLIC_HOST = urlsplit(PUBLIC_URL).hostname
if not (PUBLIC_URL.startswith(("http://", "https://")) and PUBLIC_HOST):
    raise ImproperlyConfigured(
        f"PUBLIC_URL must start with http:// or https:// and a host name: {PUBLIC_URL!r}"
    )
# Unless told, answer at the portal's own host too (`make demo HOST=192.168.1.20`).
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", f"127.0.0.1,localhost,{PUBLIC_HOST}").split(",")
# The portal's page of one booking, opened by its management key, which is in the fragment:
# browsers never send it, so no access log keeps it (portal.views.booking_open).
BOOKING_LINK = PUBLIC_URL + "/rendez-vous/{reference}/ouvrir/#cle={token}"
# The one-click rebooking link in a cancellation message, its key in the fragment too.
REBOOK_LINK = PUBLIC_URL + "/reprendre/ouvrir/#cle={token}"
if PUBLIC_URL.startswith("https://"):
    # Behind a TLS-terminating proxy: cookies only over HTTPS, forms only from here.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]

# The telephone line for people who cannot or would rather not book online.
CALL_CENTRE_PHONE = os.environ.get("CALL_CENTRE_PHONE", "0 800 009 110")

# The search's map is drawn on the server (SVG, no request elsewhere). An operator with a
# tile server may add a zoomable map over it: the tiles' URL template ({z}/{x}/{y}) and
# the credit its licence asks for (plain text). See docs/operations.md.
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "").strip()
MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "").strip()
if MAP_TILE_URL and not (
    MAP_TILE_URL.startswith(("https://", "http://", "/"))
    and all(part in MAP_TILE_URL for part in ("{z}", "{x}", "{y}"))
):
    raise ImproperlyConfigured(
        f"MAP_TILE_URL must be an http(s) address or a path with {{z}}, {{x}} and {{y}}, e.g. "
        f"https://tiles.example.fr/{{z}}/{{x}}/{{y}}.png: {MAP_TILE_URL!r}"
    )
if MAP_TILE_URL and not MAP_TILE_ATTRIBUTION:
    raise ImproperlyConfigured(
        "MAP_TILE_ATTRIBUTION must be set with MAP_TILE_URL: the credit the tiles' licence "
        "asks for, e.g. '© les contributeurs d'OpenStreetMap'."
    )

# Public reads (search, a site's calendar) answered from the cache for this long: the
# read model is already a moment old, and a hold decides. 0 turns it off.
API_CACHE_SECONDS = int(os.environ.get("API_CACHE_SECONDS", "1"))

# Sending messages (creneau.outreach.services.outbox_send). Without EMAIL_HOST, e-mails
# are printed: the demo and development never reach anyone.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_flag("EMAIL_USE_TLS", default=True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get(
    "DEFAULT_FROM_EMAIL", "Créneau <ne-pas-repondre@creneau.localhost>"
)
SMS_BACKEND = os.environ.get("SMS_BACKEND", "creneau.outreach.sms.ConsoleBackend")
SMS_HTTP_URL = os.environ.get("SMS_HTTP_URL", "")
SMS_HTTP_TOKEN = os.environ.get("SMS_HTTP_TOKEN", "")
SMS_HTTP_TIMEOUT = float(os.environ.get("SMS_HTTP_TIMEOUT", "10"))
SMS_SENDER = os.environ.get("SMS_SENDER", "Creneau")

# Delivery on campaign day (creneau/outreach; docs/operations.md, "Messages"): the rate
# each channel's provider allows, in messages a second shared by every worker (0: no
# limit); the quiet hours (Europe/Paris) when no reminder or invitation goes out ("":
# none); the provider's webhook (delivery receipts, "STOP" answers): the secret its
# requests are signed with (unset: every request is refused) and how old a signed
# request may be; the unsubscribe link of reminders and invitations.
OUTBOX_RATES = {
    "sms": float(os.environ.get("OUTBOX_RATE_SMS", "30")),
    "email": float(os.environ.get("OUTBOX_RATE_EMAIL", "100")),
}
OUTBOX_QUIET_HOURS = os.environ.get("OUTBOX_QUIET_HOURS", "21:00-08:00")
SMS_WEBHOOK_SECRET = os.environ.get("SMS_WEBHOOK_SECRET", "")
SMS_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("SMS_WEBHOOK_TOLERANCE_SECONDS", "300"))
UNSUBSCRIBE_LINK = PUBLIC_URL + "/desinscription/{token}/"
# Reminders of appointments (booking/reminders.py): how long before, and whether a
# contact who has only a postal address gets one by letter (printing and postage cost).
REMINDER_HOURS_BEFORE = int(os.environ.get("REMINDER_HOURS_BEFORE", "48"))
REMINDERS_BY_LETTER = env_flag("REMINDERS_BY_LETTER")

# ---------------------------------------------------------------------------------------
# Operations (issue 14): errors, health, metrics, logs, static files. docs/operations.md
# describes each variable.

# A database down or restarting: 503 and this Retry-After (creneau/core/unavailable.py).
DATABASE_RETRY_AFTER_SECONDS = int(os.environ.get("DATABASE_RETRY_AFTER_SECONDS", "2"))

# /metrics: either a bearer token, or the addresses it answers (default: this machine).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    ip_network(network.strip(), strict=False)
    for network in os.environ.get("METRICS_ALLOWED_IPS", "127.0.0.1,::1").split(",")
    if network.strip()
]
# /healthz: the message worker counts as down when it has not beaten for this long, and
# the outbox as stuck when an SMS or e-mail has been due for this long.
WORKER_HEARTBEAT_MAX_AGE = int(os.environ.get("WORKER_HEARTBEAT_MAX_AGE", "60"))
OUTBOX_BACKLOG_MAX_AGE = int(os.environ.get("OUTBOX_BACKLOG_MAX_AGE", "600"))

# One JSON object a line on standard error, without personal data (creneau/core/logs.py);
# LOG_FORMAT=text for development. INFO logs a line per request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "creneau.core.logs.JsonFormatter"}},
    "filters": {
        "waiting_room": {"()": "creneau.admission.logs.WaitingRoomAnswers"},
        # Paths and query strings out of Django's own request lines, in either format.
        "redact": {"()": "creneau.core.logs.RedactRequests"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["redact"],
            **({} if os.environ.get("LOG_FORMAT") == "text" else {"formatter": "json"}),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    # Every answer is already a line of creneau.request: Django's own line for each 4xx
    # would double it. Its 5xx lines stay, with their traceback.
    "loggers": {
        "django.request": {"level": "ERROR", "filters": ["waiting_room"]},
        # Its DEBUG lines print a template's whole context (names, links with their key)
        # whenever a variable is missing: never, whatever LOG_LEVEL says.
        "django.template": {"level": "INFO"},
        # The audit log's daily seals go to the operations log whatever LOG_LEVEL says.
        "creneau.audit": {"level": "INFO"},
    },
}

# Errors to Sentry when SENTRY_DSN is set: no personal data (creneau/core/sentry.py).
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from creneau.core.sentry import sentry_start

    sentry_start(dsn=SENTRY_DSN)

# Static files: compressed (gzip, and brotli when installed) and named by their content
# by collectstatic, so WhiteNoise lets browsers keep them a year. Tests collect nothing
# and use the plain storage.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if os.environ.get("PYTEST_VERSION")
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# The manifest rewrites url(…) inside the DSFR's CSS, which then no longer matches the
# checksum django-dsfr puts in its <link integrity>; the files come from us anyway.
DSFR_USE_INTEGRITY_CHECKSUMS = False

# ---------------------------------------------------------------------------------------
# Web hardening (issue 16): what browsers are told to refuse, and what they must not keep.
# tests/core/test_web_hardening.py; docs/operations.md.

from csp.constants import NONCE  # noqa: E402 (this block's own)

# Beside Django's own security headers: the waiting room's and the errors' pages get them too.
MIDDLEWARE[MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1 : 0] = [
    "csp.middleware.CSPMiddleware",
    # Permissions-Policy, and no-store on answers that may carry personal data.
    "creneau.core.middleware.PrivacyHeaders",
]
TEMPLATES[0]["OPTIONS"]["context_processors"].append("csp.context_processors.nonce")
# No inline script or style element: a script injected into a page cannot run. The one
# style a page computes (the map's scale) carries the request's nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE],
        # DSFR's icons and Leaflet's markers are data: images; the operator's tiles, if any.
        "img-src": ["'self'", "data:"]
        + (
            ["{0.scheme}://{0.netloc}".format(urlsplit(MAP_TILE_URL))]
            if "://" in MAP_TILE_URL
            else []
        ),
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Only "Utiliser ma position" asks for anything, and only for this site's pages.
PERMISSIONS_POLICY = (
    "geolocation=(self), camera=(), microphone=(), payment=(), usb=(), serial=(), hid=(), "
    "midi=(), accelerometer=(), gyroscope=(), magnetometer=(), display-capture=()"
)
# Answers that show nothing personal, which browsers and proxies may keep (prefixes of the
# path); every other page and API answer is sent with "Cache-Control: no-store".
PUBLIC_PATHS = (
    "/static/",
    "/centres/",
    "/suggestions/",
    "/eligibilite/",
    "/accessibilite/",
    "/mentions-legales/",
    "/donnees-personnelles/",
    "/api/v1/sites",
    "/api/v1/openapi.json",
    "/api/v1/docs",
)
PUBLIC_EXACT_PATHS = ("/",)
# Who runs this service, for the legal notice, the privacy and accessibility pages (French
# law asks for each); an operator that has not said is shown as such.
LEGAL = {
    key: os.environ.get(f"LEGAL_{key.upper()}") or f"(à renseigner : LEGAL_{key.upper()})"
    for key in ("operator", "address", "contact", "director", "host", "dpo")
}
if DEMO and "LEGAL_OPERATOR" not in os.environ:
    LEGAL["operator"] = "Créneau (démonstration)"
if PUBLIC_URL.startswith("https://"):
    # Browsers come back over HTTPS only, for a year, subdomains of this host included.
    SECURE_SSL_REDIRECT = True
    # The proxy's and the monitoring's own probes come over plain HTTP from inside.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading binds the whole registrable domain: the operator's decision, not ours.
    SECURE_HSTS_PRELOAD = env_flag("HSTS_PRELOAD")
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Invitation campaigns (creneau/campaigns): the largest population file accepted (bytes),
# and the link an invitation carries, its code in the fragment (never in a server's log).
POPULATION_IMPORT_MAX_BYTES = int(os.environ.get("POPULATION_IMPORT_MAX_BYTES", str(512 * 2**20)))
INVITATION_LINK = PUBLIC_URL + "/invitation/#code={code}"

# Interoperability (creneau/interop, docs/operations.md "Other platforms").
# Where `manage.py smart_publish` writes the SMART Scheduling Links files /smart/ serves.
SMART_PUBLISH_DIR = Path(os.environ.get("SMART_PUBLISH_DIR") or BASE_DIR / "var" / "smart")
# Hosts (host or host:port) an external platform's feed may be read from although they
# resolve to a private or loopback address: the demo's own feed, a partner on a private
# network. Anything else reaching our own networks is refused.
INTEROP_PRIVATE_HOSTS = frozenset(
    host.strip().lower()
    for host in os.environ.get("INTEROP_PRIVATE_HOSTS", "").split(",")
    if host.strip()
)
# The limits of one feed's read: bytes per file, lines per file, bytes per line, seconds
# for the whole feed, redirects followed.
INTEROP_MAX_BYTES = int(os.environ.get("INTEROP_MAX_BYTES", str(512 * 1024 * 1024)))
INTEROP_MAX_LINES = int(os.environ.get("INTEROP_MAX_LINES", "2000000"))
INTEROP_MAX_LINE_BYTES = int(os.environ.get("INTEROP_MAX_LINE_BYTES", str(64 * 1024)))
INTEROP_MAX_SECONDS = float(os.environ.get("INTEROP_MAX_SECONDS", "120"))
INTEROP_MAX_REDIRECTS = 3
# A feed not read successfully for this long shows its sites as "not confirmed".
INTEROP_STALE_MINUTES = int(os.environ.get("INTEROP_STALE_MINUTES", "30"))
# Each process's copy of other platforms' places for search (interop/snapshot.py) is read
# again when an import changes them (the shared cache says so) and at least this often.
INTEROP_SNAPSHOT_SECONDS = float(os.environ.get("INTEROP_SNAPSHOT_SECONDS", "60"))
# A CA bundle (PEM) trusted for platforms' https feeds instead of the system's: a partner
# whose certificate an internal authority signed, or tests. Verification is never off.
INTEROP_CA_FILE = os.environ.get("INTEROP_CA_FILE") or None
