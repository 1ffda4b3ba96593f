"""The app the Procfile's processes load: gunicorn (``wsgi:app``) and ``flask --app wsgi``."""

import os

from bot import create_app
from bot.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # A setting the operator must change: under the Flask CLI (the worker, scripts/flask) the
    # one line that says which, not a traceback around it. gunicorn's worker says it its own
    # way (bot/web/gunicorn_worker.py).
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        raise
    raise SystemExit(f"Infokanal does not start: {error}") from None
