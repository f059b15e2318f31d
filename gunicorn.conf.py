"""gunicorn reads this file from its working directory; the API's settings are in api/gunicorn_config.py."""

from api.gunicorn_config import *  # noqa: F403
