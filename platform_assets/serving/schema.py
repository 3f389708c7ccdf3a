"""The request and answer of ``POST /predict`` (pydantic): what an application knows when a session
starts, validated before any of it reaches SQL or a model."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# the platform's visitor ids: a user id, or "anon-" and 16 hex digits (sql/lake/parse_lines.sql)
VISITOR_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$"
EARLIEST, LATEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


class PredictRequest(BaseModel):
    """A session starting now: who, when, where it entered and from where."""

    model_config = ConfigDict(extra="forbid")

    visitor_id: str = Field(
        pattern=VISITOR_ID_PATTERN,
        description="The visitor: the user id when logged in, else the anonymous id (anon-<16 hex>).",
        examples=["anon-0123456789abcdef"],
    )
    time: AwareDatetime = Field(
        description="When the session starts: ISO 8601 with a time zone.", examples=["2026-03-04T10:15:00Z"]
    )
    entry_path: str = Field(
        min_length=1,
        max_length=2048,
        pattern=r"^/\S*$",
        description="Path of the first request.",
        examples=["/product/42"],
    )
    session_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,255}$",
        description="The session's id when the application knows it: the A/B result joins the answer "
        "to the session's outcome by it (else by visitor and start time, within a minute).",
    )
    referrer: str | None = Field(None, max_length=2048, description="Referrer of the first request.")
    user_agent: str | None = Field(None, max_length=1024, description="User agent of the first request.")
    device: Literal["desktop", "mobile", "tablet", "bot", "unknown"] | None = Field(
        None, description="Device class when the application knows it (else from the user agent)."
    )
    country: str | None = Field(
        None, pattern=r"^([A-Za-z]{2}|unknown)$", description="ISO-2 country, or 'unknown'."
    )

    @field_validator("time")
    @classmethod
    def _plausible(cls, value: dt.datetime) -> dt.datetime:
        if not EARLIEST <= value < LATEST:
            raise ValueError(f"time must lie between {EARLIEST.year} and {LATEST.year}")
        return value

    def start_utc(self) -> dt.datetime:
        """The start as naive UTC (the warehouse's convention)."""
        return self.time.astimezone(dt.UTC).replace(tzinfo=None)


class PredictResponse(BaseModel):
    """The answer: the probability, the label at the model's threshold, which model and arm."""

    probability: float
    label: int
    threshold: float
    model_version: str
    arm: str = Field(description="The arm that answered: champion, a challenger's name, or fallback.")
    experiment: str = Field(description="The experiment in force ('none' when none runs).")
    decision_id: str = Field(description="This answer's id in the decision log (32 hex digits).")
    store_day: str = Field(description="The online store's day the visitor's history comes from.")
    features: dict[str, object] = Field(description="The feature row the model scored.")
