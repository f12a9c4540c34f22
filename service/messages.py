"""Domain messages a person reads, translatable although they carry values.

A domain rule writes `msg("A member joins the party at %(age)s or older.", age=18)`: the result
is a plain `str` holding the English text (what the API answers, what logs show), which also
carries its template and parameters, so the pages can look the template up in the message
catalogue and fill the same values into the translation. `make messages` extracts every
`msg(...)` template (the `-k msg` keyword of `pybabel extract`).

No Flask here: the domain stays free of it; the pages translate (`service.web.forms.translated`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class Msg(str):
    """English text that remembers the catalogue template and values it was made from."""

    template: str
    params: Mapping[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Msg:
        text = template % english_values(params) if params else template
        message = super().__new__(cls, text)
        message.template = template
        message.params = params
        return message


def msg(template: str, /, **params: Any) -> Msg:
    """A domain message: `template` (a %-format with named fields) filled with `params`."""
    return Msg(template, **params)


def english_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the English text shows them: an enumeration by its value (`held`)."""
    return {k: v.value if isinstance(v, enum.Enum) else v for k, v in params.items()}
