"""The pages' text lives in the message catalogues: no Chinese typed into a template, every
message translated into Chinese, and the compiled catalogues match their sources."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

SERVICE = Path(__file__).resolve().parents[2] / "service"
TEMPLATES = SERVICE / "templates"
TRANSLATIONS = SERVICE / "translations"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# the one exception: the switch to Chinese names the language in itself, as switches do
LANGUAGE_SWITCH = '<a href="{{ request.path }}?lang=zh_CN" lang="zh-CN">中文</a>'


def _po(path: Path):
    with path.open("rb") as file:
        return read_po(file)


def _mo(path: Path):
    with path.open("rb") as file:
        return read_mo(file)


def test_no_template_has_chinese_typed_into_it():
    offenders = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            if CJK.search(line.replace(LANGUAGE_SWITCH, "")):
                offenders.append(f"{template.relative_to(SERVICE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_message_is_translated_into_chinese():
    template = _po(TRANSLATIONS / "messages.pot")
    chinese = _po(TRANSLATIONS / "zh_Hans_CN/LC_MESSAGES/messages.po")
    wanted = {m.id for m in template if m.id}
    translated = {m.id for m in chinese if m.id and m.string and "fuzzy" not in m.flags}
    assert wanted - translated == set()


def test_the_compiled_catalogues_match_their_sources():
    for source in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        compiled = BytesIO()
        write_mo(compiled, _po(source))
        compiled.seek(0)
        expected = {m.id: m.string for m in read_mo(compiled) if m.id}
        shipped = {m.id: m.string for m in _mo(source.with_suffix(".mo")) if m.id}
        assert shipped == expected, f"run `make messages` ({source.parent.parent.name})"
