"""The base of every input schema: trims text and refuses control characters by field."""

from __future__ import annotations

import re

import marshmallow as ma

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class InputSchema(ma.Schema):
    """Trims surrounding spaces of text fields and refuses NUL and other control characters,
    which PostgreSQL cannot store and no person means to type."""

    @ma.pre_load
    def _clean_text(self, data, **_kwargs):
        if not isinstance(data, dict):
            return data
        errors = {}
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str):
                if _CONTROL.search(value):
                    errors[key] = ["Must not contain control characters."]
                value = value.strip()
            cleaned[key] = value
        if errors:
            raise ma.ValidationError(errors)
        return cleaned
