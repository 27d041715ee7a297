"""The HTTP face of Accord: OpenAI's, Anthropic's and LiteLLM's routes (served by accord.app.create_app)."""

from .app import routes

__all__ = ["routes"]
