# One image for every Punctual process: api, beat, the worker pools, flower and migrate (docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The packages with their package data (migrations in shared/, the PDF fonts in workers/fonts) are
# installed from here; gunicorn.conf.py stays in the working directory, where gunicorn looks for it.
COPY pyproject.toml README.md ./
COPY api ./api
COPY beat ./beat
COPY workers ./workers
COPY shared ./shared
COPY gunicorn.conf.py ./
# Checked from /, so that the installed packages are imported, not the sources beside them.
RUN pip install --no-cache-dir . \
    && cd / && python -c "from workers.tabular import REGULAR_FONT, BOLD_FONT; from shared.migrate import \
MIGRATIONS_DIR; assert REGULAR_FONT.is_file() and BOLD_FONT.is_file() and any(MIGRATIONS_DIR.glob('*.sql'))"
RUN useradd --create-home punctual
USER punctual
EXPOSE 8000
CMD ["sh", "-c", "exec gunicorn --bind ${HOST:-0.0.0.0}:${PORT:-8000} --workers 4 --no-control-socket --access-logfile - api.wsgi:app"]
