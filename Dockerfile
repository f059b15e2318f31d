# One image for every Punctual process (api, beat, worker, flower, migrate).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY beat ./beat
COPY workers ./workers
COPY shared ./shared
COPY gunicorn.conf.py ./
RUN pip install --no-cache-dir .
RUN useradd --create-home punctual
USER punctual
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "api.wsgi:app"]
