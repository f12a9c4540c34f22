"""Resident identity card numbers (GB 11643-1999): format, check digit, birth date, gender."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from service.messages import msg

_PATTERN = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_DIGITS = "10X98765432"


@dataclass(frozen=True)
class IdCard:
    number: str
    birth_date: date
    gender: str  # "male" | "female"


def parse_id_card(value: str) -> IdCard:
    """Check an 18-character ID-card number and read its birth date and gender.

    Raises ValueError with a message a person can act on."""
    number = value.strip().upper()
    if not _PATTERN.match(number):
        raise ValueError(msg("An ID-card number has 17 digits followed by a digit or X."))
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK_DIGITS[total % 11] != number[17]:
        raise ValueError(msg("The ID-card number's check digit is wrong; please check the number."))
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError(msg("The ID-card number does not contain a valid birth date.")) from None
    if not date(1900, 1, 1) <= birth <= date.today():
        raise ValueError(msg("The ID-card number's birth date is not between 1900 and today."))
    return IdCard(number, birth, "male" if int(number[16]) % 2 else "female")


def mask_id_card(number: str) -> str:
    """`110***********123X`: the first 3 and last 4 characters."""
    return (
        number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 7 else "*" * len(number)
    )


def mask_phone(phone: str) -> str:
    """`138****5678`: all but the first 3 and last 4 digits hidden."""
    digits = len(phone)
    return phone[:3] + "*" * (digits - 7) + phone[-4:] if digits > 7 else "*" * digits
