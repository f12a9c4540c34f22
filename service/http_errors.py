"""One JSON shape for every error: `{code, status, message, errors?}`, never an HTML page."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_smorest import Api as SmorestApi
from flask_smorest.pagination import PaginationMetadataSchema
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
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
    503: "The database is unavailable right now; try again in a few seconds.",
}
# how long a client should wait before retrying a request refused because the database is
# unreachable: the pool's pre-ping reconnects at the first request after it is back
RETRY_AFTER_SECONDS = 5
# SQLSTATE class 40 (transaction rollback: serialization failure, deadlock): a concurrent
# writer won; the request changed nothing and can be retried as is
_CONCURRENT_CLASS = "40"


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

    def _register_pagination_header(self) -> None:
        # flask-smorest describes `X-Pagination` with `schema`, which in OpenAPI 3 is the
        # `simple` style (`total,4,page,1`); the header carries JSON, which OpenAPI describes
        # with `content` (schemathesis found the header "not an object")
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Pagination metadata, a JSON object",
                "content": {"application/json": {"schema": PaginationMetadataSchema}},
            },
            lazy=True,
        )

    def register_blueprint(self, blp, **options) -> None:
        """Register the blueprint, and declare in the document the errors its operations answer
        that flask-smorest does not declare itself (see `declared_errors`)."""
        super().register_blueprint(blp, **options)
        # apispec keeps the paths in `_paths` (no public accessor); a path's operations are
        # final once its blueprint is registered, so adding to them again is idempotent
        for path, item in self.spec._paths.items():
            for method, operation in item.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                for status in declared_errors(path, method, operation):
                    if str(status) not in responses:
                        name = HTTPStatus(status).name  # flask-smorest's response components
                        responses[str(status)] = self.spec.components.get_ref("response", name)
                # in order, `default` last
                ordered = sorted(responses, key=lambda code: (code == "default", code))
                operation["responses"] = {code: responses[code] for code in ordered}


_METHODS = ("get", "post", "put", "patch", "delete")


def declared_errors(path: str, method: str, operation: dict) -> list[int]:
    """The error statuses an API operation answers besides those flask-smorest declares (422
    for its arguments, 304/412/428 for ETags), so that the document lists every status a
    client may meet: 401 without valid credentials; 403 where a role is needed (every
    operation but the caller's own `/me`); 404 where the path names a branch or an object;
    400, 413 and 415 for a body that is not JSON, too large, or not sent as JSON; 409 and 422
    for writes (a conflict, a domain rule); 503 while the database is unreachable."""
    if not path.startswith("/api/v1/"):
        return []
    found = [401, 503]
    if path != "/api/v1/me":
        found.append(403)
    if "{" in path:
        found.append(404)
    if "requestBody" in operation:
        found += [400, 413, 415]
    if method != "get":
        found += [409, 422]
    return found


def is_page_request() -> bool:
    """A request for a web page (not the API, not a probe): errors are pages, not JSON."""
    return not request.path.startswith(("/api/", "/healthz", "/readyz"))


def page_error(code: int, name: str, message: str | None, headers: dict | None = None):
    """An error as a page; a page that needs sign-in sends the person to sign in."""
    if code == 401:
        return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
    from service.web.forms import translated  # the pages' side; imported late (no cycle)

    text = translated(message) if message else _DEFAULT_MESSAGES.get(code, name)
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

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(error: Exception):
        # a lost or refused connection, a server shutting down, an exhausted pool: the request
        # wrote nothing (its transaction is rolled back), so it can simply be sent again
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
        if isinstance(error, DBAPIError) and sqlstate.startswith(_CONCURRENT_CLASS):
            log.info("concurrent write on %s %s: %s", request.method, request.path, reason[:1])
            return respond(
                409,
                "Conflict",
                "A concurrent change to the same data won; read it again and retry.",
            )
        log.warning(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.path,
            type(error).__name__,
            reason[0] if reason else "",
        )
        response = respond(503, "Service Unavailable", None)
        if isinstance(response, tuple):  # (body, status[, headers]): add the retry hint
            body, status, *rest = response
            headers = {**(rest[0] if rest else {}), "Retry-After": str(RETRY_AFTER_SECONDS)}
            return body, status, headers
        return response

    @app.errorhandler(InternalServerError)
    def _internal(error: InternalServerError):
        original = getattr(error, "original_exception", None)
        # the commit runs after the view (spaces._finish_unit_of_work): an error there reaches
        # Flask as unhandled, but a lost database at commit is the same 503 as during the view
        if isinstance(original, (OperationalError, InterfaceError, PoolTimeout)):
            return _database_unavailable(original)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return respond(500, "Internal Server Error", None)
