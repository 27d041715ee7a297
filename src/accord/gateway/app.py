"""The gateway's routes: OpenAI, Anthropic and Responses APIs, health, the admin API, consensus runs.

The app they are served in (with /ui and /mcp beside them, and the services they share) is built by the
composition root, accord.app.create_app; these handlers read those services from `request.app.state`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from ..config import Config
from . import (
    chat,
    errors,
    health,
    keys_api,
    messages,
    models,
    openapi,
    prometheus,
    reload,
    responses,
    runs_api,
    spend,
)
from .middleware import RequestContext

HANDLERS = errors.HANDLERS  # AccordError and unexpected errors as OpenAI's (or Anthropic's) error body


def routes(cfg: Config) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for prefix in ("/v1", ""):
        out += [
            Route(f"{prefix}/chat/completions", chat.chat_completions, methods=["POST"]),
            Route(f"{prefix}/embeddings", chat.embeddings, methods=["POST"]),
            Route(f"{prefix}/responses", responses.create_response, methods=["POST"]),
            Route(prefix + "/responses/{response_id}", responses.get_response, methods=["GET"]),
            Route(f"{prefix}/messages", messages.messages, methods=["POST"]),
            Route(f"{prefix}/messages/count_tokens", messages.count_tokens, methods=["POST"]),
            Route(f"{prefix}/models", models.list_models, methods=["GET"]),
            Route(prefix + "/models/{model_id:path}", models.get_model, methods=["GET"]),
        ]
    out += [
        Route("/health/liveliness", health.liveliness, methods=["GET"]),
        Route("/health/liveness", health.liveliness, methods=["GET"]),
        Route("/health/readiness", health.readiness, methods=["GET"]),
        Route("/health", health.health, methods=["GET"]),
        Route("/key/generate", keys_api.generate, methods=["POST"]),
        Route("/key/info", keys_api.info, methods=["GET"]),
        Route("/key/list", keys_api.list_keys, methods=["GET"]),
        Route("/key/update", keys_api.update, methods=["POST"]),
        Route("/key/delete", keys_api.delete, methods=["POST"]),
        Route("/spend/logs", spend.logs, methods=["GET"]),
        Route("/usage/summary", spend.summary, methods=["GET"]),
        Route("/config/reload", reload.reload_route, methods=["POST"]),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/v1/consensus/runs", runs_api.start_run, methods=["POST"]),
        Route("/v1/consensus/runs/{run_id}", runs_api.get_run, methods=["GET"]),
        Route("/v1/consensus/runs/{run_id}/cancel", runs_api.cancel_run, methods=["POST"]),
    ]
    if cfg.settings.metrics:
        out.append(Route("/metrics", prometheus.scrape, methods=["GET"]))
    return out


class Gateway(Starlette):
    """Starlette, with HTTP requests handed to RequestContext directly: it answers every error raised before a
    response begins, so ServerErrorMiddleware in front of it only added a frame and a `send` wrapper per message
    (after a response has begun both re-raise to the server alike). Lifespan and websockets go the usual way."""

    _front: RequestContext | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self._front
        if front is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            if self._front is None and self.middleware_stack is not None:
                inner = getattr(self.middleware_stack, "app", None)
                self._front = inner if isinstance(inner, RequestContext) else None
            return
        scope["app"] = self
        await front(scope, receive, send)
