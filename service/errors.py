"""Domain errors: raised by service functions, mapped to HTTP by the API layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the request; the message tells a person what to do."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Invalid(DomainError):
    """Input that breaks a domain rule; `errors` names each offending field."""

    status = 422

    def __init__(self, errors: Mapping[str, Any]) -> None:
        # a nested mapping names an item of a list body: {"2": {"member_id": "..."}}
        self.errors = {str(k): _listed(v) for k, v in errors.items()}
        super().__init__("; ".join(field_error_lines(self.errors)))


def _listed(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return {str(k): _listed(v) for k, v in value.items()}
    return list(value)


def field_error_lines(errors: Any, prefix: str = "") -> list[str]:
    """`{"json": {"name": ["..."]}}` as `["json.name: ..."]`: field errors, one line each, named
    by their path (also through lists of item errors)."""
    if isinstance(errors, Mapping):
        lines: list[str] = []
        for key, value in errors.items():
            lines += field_error_lines(value, f"{prefix}.{key}" if prefix else str(key))
        return lines
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [f"{prefix}: {' '.join(errors)}"]
    if isinstance(errors, list):
        return [line for e in errors for line in field_error_lines(e, prefix)]
    return [f"{prefix}: {errors}"]
