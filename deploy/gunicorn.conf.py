"""gunicorn's configuration for Créneau (`gunicorn -c deploy/gunicorn.conf.py`).

Used by `make prod`, `make demo` (scripts/prod.sh) and the systemd unit alike. Every value
can be overridden on the command line or by the environment variables read below.
docs/operations.md explains the choice of gunicorn and the number of workers.
"""

import ctypes
import os
import shutil
import signal
import tempfile

wsgi_app = "creneau.wsgi:application"
bind = [os.environ.get("BIND", "127.0.0.1:8000")]
# Threaded workers, two threads each, two workers per core: measured against sync workers
# and granian with bench/rush.py (docs/architecture.md, "Search in SQL, the lean answer
# path and the app server"). A thread waiting for the database leaves the core to the
# other, and they keep nginx's connections open (its upstream `keepalive`), where a
# sync worker closes each one. WEB_CONCURRENCY and GUNICORN_THREADS override them.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# The kernel's queue of connections not yet accepted: on launch morning it absorbs a burst
# instead of refusing it (net.core.somaxconn must allow as much).
backlog = 2048
# A worker silent this long is killed and replaced (a stuck request must not keep it).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM or a reload, requests in progress get this long to finish.
graceful_timeout = 20
# Behind nginx, which keeps its own connections to clients.
keepalive = 5
# Workers are replaced after this many requests (spread out): whatever memory one slowly
# gains is given back, without all restarting at once.
max_requests = 5000
max_requests_jitter = 500
# The workers' heartbeat files in memory: a slow disk must not make them look stuck.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Our own JSON line per request (creneau.core.middleware.RequestLog) replaces the access log.
# An operator who wants gunicorn's too ("-" for standard output) gets it without keys,
# references, query values or Referer: the route pattern instead of the path.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
logger_class = "creneau.core.access_log.AccessLog"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "creneau-web"
# gunicorn 27's control socket (~/.gunicorn/gunicorn.ctl) is not used: signals and systemd
# are, and two servers on one machine would share its path.
control_socket_disable = True

# Prometheus' multiprocess mode (creneau/core/metrics.py): each worker writes its counters
# in this directory, emptied when the server starts. systemd gives one in /run.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="creneau-metrics-")
METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

PR_SET_PDEATHSIG = 1


def on_starting(server):
    os.makedirs(METRICS_DIR, exist_ok=True)
    for name in os.listdir(METRICS_DIR):
        if name.endswith(".db"):
            os.remove(os.path.join(METRICS_DIR, name))


def post_fork(server, worker):
    """A worker ends when its master dies, even by kill -9: otherwise orphan workers keep
    the listening socket and the supervisor's restart finds the port taken. Linux tells the
    worker with SIGTERM (it finishes the request in hand, then exits)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != server.pid:  # the master died before prctl took effect
        os._exit(0)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
