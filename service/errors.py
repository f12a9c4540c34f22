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
        super().__init__("; ".join(_flattened(self.errors)))


def _listed(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return {str(k): _listed(v) for k, v in value.items()}
    return list(value)


def _flattened(errors: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines: list[str] = []
    for key, value in errors.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            lines += _flattened(value, name)
        else:
            lines.append(f"{name}: {' '.join(value)}")
    return lines
