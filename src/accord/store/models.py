"""The tables. Portable types only (no SQLite- or PostgreSQL-only columns), so one migration serves both."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Thread(Base):
    """One conversation or consensus run; any tool may continue any thread."""

    __tablename__ = "threads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tool: Mapped[str] = mapped_column(String(32))  # consensus | chat | thinkdeep | challenge
    title: Mapped[str] = mapped_column(String(200), default="")
    # running | done | partial | failed | cancelled | interrupted
    status: Mapped[str] = mapped_column(String(16), default="running")
    mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    panel: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True)  # host:pid:instance running it
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # run's deadline

    messages: Mapped[list[ThreadMessage]] = relationship(
        back_populates="thread", order_by="ThreadMessage.seq", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (Index("ix_threads_updated_at", "updated_at"), Index("ix_threads_status", "status"))


class ThreadMessage(Base):
    """One turn: the question (`user`), a model's answer (`assistant`, `panel`, `review`) or the synthesis (`chair`)."""

    __tablename__ = "thread_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    stance: Mapped[str | None] = mapped_column(String(200), nullable=True)
    content: Mapped[str] = mapped_column(Text, default="")
    reasoning: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="ok")  # ok | failed | timeout | skipped
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    thread: Mapped[Thread] = relationship(back_populates="messages")

    __table_args__ = (Index("ix_thread_messages_thread_seq", "thread_id", "seq"),)


_BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite's rowid alias must be INTEGER


class VirtualKey(Base):
    """A key Accord issues. Only a hash is stored; the key is shown once, at creation."""

    __tablename__ = "virtual_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)  # None: every model
    max_budget: Mapped[float | None] = mapped_column(Float, nullable=True)
    spend: Mapped[float] = mapped_column(Float, default=0.0)
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    budget_duration: Mapped[str | None] = mapped_column(String(8), nullable=True)  # 1d, 7d, 30d, 1mo (budgets.py)
    max_price: Mapped[float | None] = mapped_column(Float, nullable=True)  # $ a request may cost at most
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # key_clock's, at its last change

    __table_args__ = (Index("ix_virtual_keys_version", "version"),)


class KeyClock(Base):
    """One row: the number the last change to any virtual key took (store/keys.py). Every change takes the next
    one under this row's lock, so a change with number n is committed only after every change before it: an
    instance that has seen everything up to n needs only the rows above n."""

    __tablename__ = "key_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class UsageRecord(Base):
    """One upstream call (or a request refused before any): who and from where (route: chat, embeddings, mcp,
    cli, ui; thread), which model and deployment, tokens, cost, timing, outcome. Written in batches."""

    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(String(40), default="")
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    route: Mapped[str] = mapped_column(String(24), default="chat")
    model: Mapped[str] = mapped_column(String(200), default="")
    deployment: Mapped[str | None] = mapped_column(String(200), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(40), nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)  # of prompt_tokens: read from the cache
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)  # of prompt_tokens: written to it
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[int] = mapped_column(Integer, default=200)
    error_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    thread_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the MCP/CLI/UI thread it served

    __table_args__ = (
        Index("ix_usage_thread_id", "thread_id"),
        Index("ix_usage_created_at", "created_at"),
        Index("ix_usage_key_id", "key_id", "id"),
        Index("ix_usage_model_id", "model", "id"),
        Index("ix_usage_status_id", "status", "id"),
    )


class UsageDaily(Base):
    """Per day, key and model totals, kept up to date as usage is written, so summaries never scan `usage`."""

    __tablename__ = "usage_daily"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" when no virtual key
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)  # sum; mean = latency_ms / requests


class SignedOut(Base):
    """A dashboard session ended by signing out, until its cookie would have expired anyway. Sessions are signed
    cookies (no table of their own); this list is what makes signing out hold on every instance."""

    __tablename__ = "ui_signed_out"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the session id
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_ui_signed_out_expires_at", "expires_at"),)


class StoredResponse(Base):
    """A `POST /v1/responses` answer kept for `previous_response_id`: the conversation so far in chat form (what
    the next turn sends upstream) and the response object, until `expires_at` (settings.responses_retention_days)."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # only its own key may continue it
    model: Mapped[str] = mapped_column(String(200), default="")
    messages: Mapped[list[Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_responses_expires_at", "expires_at"),)
