"""One JSON shape for every error: `{code, status, message, errors?}`, never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_smorest import Api as SmorestApi
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from service.errors import DomainError, field_error_lines
from tenants.errors import SlugTaken, TenantNotFound

log = logging.getLogger(__name__)

_DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    401: "Authentication is required.",
    403: "You are not allowed to do this.",
    404: "Not found.",
    405: "This method is not allowed here.",
    409: "This conflicts with existing data.",
    412: "The object changed since you read it; read it again and retry with the new ETag.",
    413: "The request body is too large.",
    415: "Send the body as JSON with Content-Type: application/json.",
    422: "The input is not valid.",
    428: "Send the object's current ETag in an If-Match header.",
    500: "Something went wrong on our side; it has been logged.",
}


def error_body(code: int, name: str, message: str | None, errors: Any = None) -> dict:
    """The error payload every response of ours uses."""
    body = {"code": code, "status": name, "message": message or _DEFAULT_MESSAGES.get(code, name)}
    if errors:
        body["errors"] = errors
    return body


def schema_name(schema: Any) -> str:
    """OpenAPI component names: `Member`, and `MemberPatch` for the partial schema of PATCH."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type) and schema.partial and not name.endswith("Patch"):
        name += "Patch"
    return name


class Api(SmorestApi):
    """flask-smorest's Api with our error shape: the message names the offending fields."""

    def __init__(self) -> None:
        super().__init__(
            spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)}
        )

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        message = data.get("message")
        if errors and not message:
            message = "Invalid input: " + "; ".join(field_error_lines(errors))
        if message is None and error.code not in _DEFAULT_MESSAGES:
            message = error.description
        headers = dict(data.get("headers") or {})
        if error.code == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        if is_page_request():
            return page_error(error.code, error.name, message, headers)
        return jsonify(error_body(error.code, error.name, message, errors)), error.code, headers


def is_page_request() -> bool:
    """A request for a web page (not the API, not a probe): errors are pages, not JSON."""
    return not request.path.startswith(("/api/", "/healthz", "/readyz"))


def page_error(code: int, name: str, message: str | None, headers: dict | None = None):
    """An error as a page; a page that needs sign-in sends the person to sign in."""
    if code == 401:
        return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
    text = message or _DEFAULT_MESSAGES.get(code, name)
    return render_template("error.html", code=code, message=text), code, headers or {}


def init_app(app: Flask, api: Api) -> None:
    """Map domain, tenancy and database errors to the one error shape."""

    def respond(code: int, name: str, message: str | None, errors: Any = None):
        if is_page_request():
            return page_error(code, name, message)
        return jsonify(error_body(code, name, message, errors)), code

    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        names = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity", 403: "Forbidden"}
        errors = getattr(error, "errors", None)
        return respond(
            error.status,
            names.get(error.status, "Bad Request"),
            error.message,
            # field errors sit where the schema's do: {"json": {field: [messages]}}
            {"json": errors} if errors else None,
        )

    @app.errorhandler(SlugTaken)
    def _slug_taken(error: SlugTaken):
        return respond(
            409,
            "Conflict",
            f"A branch with slug {error.args[0]!r} already exists.",
            {"json": {"slug": ["This slug is already taken."]}},
        )

    @app.errorhandler(TenantNotFound)
    def _tenant_not_found(error: TenantNotFound):
        return respond(404, "Not Found", f"No branch {error.args[0]!r}.")

    @app.errorhandler(StaleDataError)
    def _stale(_error: StaleDataError):
        return respond(412, "Precondition Failed", None)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError):
        log.info("integrity error on %s %s: %s", request.method, request.path, error.orig)
        return respond(409, "Conflict", None)

    @app.errorhandler(InternalServerError)
    def _internal(error: InternalServerError):
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return respond(500, "Internal Server Error", None)
