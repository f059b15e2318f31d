"""Punctual's foundation: settings, database, migrations, domain model, time engine, SQL."""
