"""marshmallow schemas: they load requests and dump responses."""
