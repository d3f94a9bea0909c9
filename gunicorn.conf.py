"""gunicorn settings for the central server's web app (``sync_server.wsgi:app``).

Environment: ``DCS_BIND`` (default 127.0.0.1:8000, behind a TLS-terminating proxy),
``DCS_WEB_WORKERS`` (default 2 × cores + 1), ``DCS_ACCESS_LOG`` (default ``-``: stdout).
The access log has the path but never the query string: tracking links carry petition
numbers there, and nothing personal goes into logs.
"""

import multiprocessing
import os

wsgi_app = "sync_server.wsgi:app"
bind = os.environ.get("DCS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("DCS_WEB_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))
# Long enough for a slow report, short enough that a stuck worker is replaced.
timeout = 30
graceful_timeout = 20
# A stateless app: the database is the only shared state, so workers are plain sync workers.
# Threads: the dashboard's live stream (server-sent events) holds a request open for minutes;
# a sync worker would be killed by the timeout and serve nobody else meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("DCS_WEB_THREADS", "8"))
# The default control socket lives in $HOME, shared by every server run by that user.
control_socket_disable = True
# Trust X-Forwarded-* only from a proxy on this host (see PROXY_COUNT in docs/api.md).
forwarded_allow_ips = "127.0.0.1,::1"

accesslog = os.environ.get("DCS_ACCESS_LOG", "-")
errorlog = "-"
# %(U)s is the path without the query string; no Referer (it could carry one either).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
