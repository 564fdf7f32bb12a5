"""UTC instants as the scenario writes them (ISO-8601, ``Z`` or an offset)."""
from __future__ import annotations

from datetime import datetime, timezone

from .errors import ScenarioError

__all__ = ["parse_utc"]


def parse_utc(text, field="start_utc"):
    """Parse an ISO-8601 UTC instant (``2024-05-20T00:00:00Z``) into an aware datetime."""
    if isinstance(text, datetime):
        dt = text
    else:
        s = str(text).strip()
        if s.endswith("Z") or s.endswith("z"):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise ScenarioError(
                f"{field}: expected an ISO-8601 UTC time such as 2024-05-20T00:00:00Z, got {text!r}"
            ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)
