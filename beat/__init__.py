"""Beat: a PostgreSQL-backed celery.beat.Scheduler that fires every due slot exactly once."""
