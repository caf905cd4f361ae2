"""gunicorn configuration for Datasteward: ``gunicorn -c deploy/gunicorn.conf.py service.wsgi:app``.

Everything comes from the packaged defaults (service/ops/gunicorn_conf.py):
address from DATASTEWARD_HOST/DATASTEWARD_PORT, workers from WEB_CONCURRENCY,
JSON logs, and the shared Prometheus directory (PROMETHEUS_MULTIPROC_DIR)
emptied at start. Override a value below this import if your site needs to.
"""

from service.ops.gunicorn_conf import *  # noqa: F403
from service.ops.gunicorn_conf import child_exit, on_starting  # noqa: F401 - gunicorn hooks
