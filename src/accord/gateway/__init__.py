"""The HTTP face of Accord: an ASGI app with OpenAI's routes."""

from .app import create_app

__all__ = ["create_app"]
