"""The pages' language: simplified Chinese by default, English on request.

The choice is a `lang` query parameter (remembered in a cookie), else the cookie, else zh_CN.
The browser's Accept-Language is not consulted: the zone's staff read Chinese, and a browser
or office machine set up in English must not turn the pages English unasked. Catalogues live
in `service/translations/`: the Chinese one under `zh_Hans_CN`, the name Babel gives zh_CN
once parsed (catalogues are looked up by that name)."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import Babel

DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
LANG_COOKIE = "pmsc_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
# the html `lang` attribute for each locale
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our locale choice; remember an explicit `lang` in a cookie."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember_choice)
    app.jinja_env.globals["html_lang"] = lambda: HTML_LANG[select_locale()]
    app.jinja_env.globals["current_locale"] = select_locale


def select_locale() -> str:
    """The locale of this request (see the module's docstring)."""
    if "pmsc_locale" in g:
        return g.pmsc_locale
    wanted = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if wanted not in LOCALES:
        wanted = DEFAULT_LOCALE
    g.pmsc_locale = wanted
    return wanted


def _remember_choice(response):
    wanted = request.args.get("lang")
    if wanted in LOCALES and request.cookies.get(LANG_COOKIE) != wanted:
        response.set_cookie(
            LANG_COOKIE, wanted, max_age=LANG_COOKIE_SECONDS, samesite="Lax", httponly=True
        )
    return response
