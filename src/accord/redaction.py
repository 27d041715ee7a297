"""What counts as a secret in a config, and how it is hidden wherever config data is shown.

One list for every output: `config show`, the dashboard, /health, `accord doctor`, error messages and the log
(logs.redact_config and providers.base.scrub take a deployment's secrets from `Deployment.secrets()`, which is
built from the helpers here). Values are masked by the name of their key (`api_key`, `password`, ...), every
header value of a model is a secret, and a URL never shows the `user:password@` part.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, unquote

SECRET_KEYS = ("key", "password", "secret", "token", "database_url", "redis_url", "authorization")
MASK = "****"


def mask(value: str | None) -> str | None:
    return None if value is None else MASK


def redact(obj: Any) -> Any:
    """Config data as it may be shown: secret-named values masked, credentials cut out of every URL."""
    if isinstance(obj, dict):
        return {
            k: (mask(v) if isinstance(v, str) and any(s in str(k).lower() for s in SECRET_KEYS) else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str) and "@" in obj and "://" in obj:
        return shown_url(obj)
    return obj


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """`https://user:pass@host/v1` -> (`https://host/v1`, user, pass), percent-decoded; a URL without them
    comes back as it is with (None, None). Plain string work, so a URL too broken to parse loses them too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, None, None
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, hostport = rest[:end].rpartition("@")
    if not at:
        return url, None, None
    user, colon, password = userinfo.partition(":")
    return f"{scheme}://{hostport}{rest[end:]}", unquote(user), unquote(password) if colon else None


def shown_url(url: str) -> str:
    """The URL with any `user:password@` replaced by `****@`, to show where it points and that it has them."""
    clean, user, password = split_credentials(url)
    if user is None and password is None:
        return url
    scheme, _, rest = clean.partition("://")
    return f"{scheme}://{MASK}@{rest}"


def url_secrets(url: str | None) -> list[str]:
    """The secrets inside a URL (a database or Redis URL, an MCP endpoint), as they may appear anywhere."""
    if not url:
        return []
    _, user, password = split_credentials(url)
    return [] if user is None and password is None else credential_secrets(basic_token(user or "", password or ""))


def credential_secrets(basic: str) -> list[str]:
    """From an HTTP Basic value (`Basic dXNlcjpwYXNz` or the bare token): the password as written and
    percent-encoded, and the token itself. Without a password (`https://TOKEN@host`) the user part is the secret."""
    token = basic.removeprefix("Basic ")
    user, _, password = base64.b64decode(token).decode("utf-8", "replace").partition(":")
    secret = password or user
    return [v for v in (secret, quote(secret, safe=""), token) if v]


def basic_token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()
