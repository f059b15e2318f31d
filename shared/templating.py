"""The sandboxed Jinja2 environments templates run in, and the check that a template compiles.

Defined here so that the API refuses, when a template is saved, exactly what the workers would
fail to compile when it runs: both use these two environments.
"""

from __future__ import annotations

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from shared.errors import InvalidInput

TEXT_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
HTML_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


def check_template(source: str, field: str, *, html: bool = False) -> None:
    """Raise InvalidInput naming the field, the line and Jinja2's message if source does not compile."""
    environment = HTML_ENVIRONMENT if html else TEXT_ENVIRONMENT
    try:
        # Compiling (not only parsing) also catches an unknown filter or test, which would
        # otherwise fail every run. Nothing is rendered: no variable is needed.
        environment.compile(source)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{field}: Template syntax error on line {exc.lineno}: {exc.message}") from None
    except (RecursionError, SyntaxError):
        # Jinja2 parses recursively and compiles to Python, whose nesting is limited (about 100
        # blocks): deeper nesting fails here, not in a worker at run time.
        raise InvalidInput(f"{field}: Template is nested too deeply") from None
