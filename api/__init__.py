"""The HTTP API (Flask), its schemas, auth, error handlers, OpenAPI document, and the CLI."""
