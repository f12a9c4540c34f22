"""ETags from an object's id and version column, the same for every caller and every view of
the object, so a stale `If-Match` is 412 however the object was read."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint


def version_tag(obj: Any) -> dict[str, Any]:
    return {"id": str(obj.id), "version": obj.version}


def set_etag(blp: Blueprint, obj: Any) -> None:
    """Send the object's ETag with the response."""
    blp.set_etag(version_tag(obj))


def check_etag(blp: Blueprint, obj: Any) -> None:
    """412 unless the request's `If-Match` is the object's current ETag (428 if it is missing)."""
    blp.check_etag(version_tag(obj))
