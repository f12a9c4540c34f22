"""Accounts, sessions, grants and API tokens: the rules, without Flask."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from service.access.models import ApiToken, GrantedRole, RoleGrant, TokenScope, User, UserSession
from service.auth.roles import Role
from service.errors import Conflict, Invalid, NotFound
from service.messages import msg
from tenants.orm import escape_like, utcnow
from tenants.registry import Tenant
from tenants.table_reads import ZoneTableLookup

TOKEN_PREFIX = "pmsct_"  # noqa: S105 - a marker, not a secret
_TOKEN = re.compile(r"^pmsct_(?P<tenant>[0-9a-f]{32})_(?P<secret>[A-Za-z0-9_-]{43})$")
MAX_TOKEN_DAYS = 366
SESSION_TOUCH_SECONDS = 60  # last_seen_at is written at most once a minute per session


def secret_hash(secret: str) -> str:
    """The stored form of a session or token secret (high-entropy, so a plain SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# accounts


def upsert_user(
    session: Session,
    *,
    issuer: str,
    subject: str,
    name: str | None,
    username: str | None,
    email: str | None,
    groups: Iterable[str],
) -> User:
    """Create the account on first sign-in, refresh its details and groups on every one."""
    user = session.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    if user is None:
        user = User(issuer=issuer, subject=subject)
        session.add(user)
    user.name = (name or None) and name[:120]
    user.username = (username or None) and username[:120]
    user.email = (email or None) and email[:255]
    user.groups = sorted(set(groups))
    user.last_sign_in_at = utcnow()
    session.flush()
    return user


# every request with a bearer JWT looks its account up: a compiled read (issue 5, B3)
_USER_ID_BY_IDENTITY = ZoneTableLookup(User, key=("issuer", "subject"), columns=("id",))


def user_id_by_identity(session: Session, *, issuer: str, subject: str) -> uuid.UUID | None:
    """The id of the account of (iss, sub), if the person has signed in before."""
    found = _USER_ID_BY_IDENTITY.one(session, issuer=issuer, subject=subject)
    return found.id if found is not None else None


def find_user(session: Session, *, user_id: uuid.UUID | None, username: str | None) -> User:
    """The account named by id, or by exact username or e-mail; `Invalid` otherwise."""
    if user_id is not None:
        user = session.get(User, user_id)
    elif username:
        candidates = list(
            session.scalars(
                select(User).where(or_(User.username == username, User.email == username)).limit(2)
            )
        )
        user = candidates[0] if len(candidates) == 1 else None
    else:
        raise Invalid({"user_id": msg("Name the account by user_id or username.")})
    if user is None:
        field = "user_id" if user_id is not None else "username"
        raise Invalid({field: msg("No such account: the person must have signed in once.")})
    return user


def list_users(
    session: Session, *, q: str | None, offset: int, limit: int
) -> tuple[list[User], int]:
    """Accounts by name, filtered by name, username or e-mail containing `q`."""
    query = select(User)
    if q:
        pattern = f"%{escape_like(q)}%"
        query = query.where(
            or_(
                User.name.like(pattern, escape="\\"),
                User.username.like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(User.name, User.id).offset(offset).limit(limit))
    return list(rows), total


# sessions


def start_session(
    session: Session, *, user: User, id_token: str | None, lifetime: timedelta
) -> tuple[UserSession, str]:
    """A new session (a new secret at every sign-in); returns it and the cookie's secret."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    record = UserSession(
        secret_hash=secret_hash(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        id_token=id_token,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(record)
    session.flush()
    return record, secret


def purge_ended_sessions(session: Session, *, idle: timedelta, now: datetime | None = None) -> int:
    """Delete the sessions that can no longer be used (past their end, or idle too long)."""
    now = now or utcnow()
    result = session.execute(
        delete(UserSession)
        .where(or_(UserSession.expires_at <= now, UserSession.last_seen_at <= now - idle))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def live_session(
    session: Session, *, secret: str, idle: timedelta, now: datetime | None = None
) -> tuple[UserSession, User] | None:
    """The session the cookie's secret opens, if neither idle nor past its absolute end."""
    now = now or utcnow()
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.secret_hash == secret_hash(secret))
    ).first()
    if row is None:
        return None
    record, user = row
    if now >= record.expires_at or now - record.last_seen_at >= idle:
        session.delete(record)
        session.flush()
        return None
    if (now - record.last_seen_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        record.last_seen_at = now
        session.flush()
    return record, user


def end_session(session: Session, *, session_id: uuid.UUID) -> UserSession | None:
    """Delete a session (sign-out); returns it, for its logout hint."""
    record = session.get(UserSession, session_id)
    if record is not None:
        session.delete(record)
        session.flush()
    return record


# grants (in a tenant context)


def granted_roles(session: Session, *, tenant_id: uuid.UUID, user_id: uuid.UUID) -> set[Role]:
    """The branch roles granted in the app to the account in the branch."""
    roles = session.scalars(
        select(RoleGrant.role).where(RoleGrant.tenant_id == tenant_id, RoleGrant.user_id == user_id)
    )
    return {Role(r.value) for r in roles}


def grants_of_user(session: Session, *, user_id: uuid.UUID) -> dict[uuid.UUID, set[Role]]:
    """Every branch role granted to the account, by branch (needs the zone context)."""
    found: dict[uuid.UUID, set[Role]] = {}
    for tenant_id, role in session.execute(
        select(RoleGrant.tenant_id, RoleGrant.role).where(RoleGrant.user_id == user_id)
    ):
        found.setdefault(tenant_id, set()).add(Role(role.value))
    return found


def list_grants(session: Session, *, tenant_id: uuid.UUID) -> list[tuple[RoleGrant, User]]:
    """The branch's grants with their accounts, by account name."""
    rows = session.execute(
        select(RoleGrant, User)
        .join(User, User.id == RoleGrant.user_id)
        .where(RoleGrant.tenant_id == tenant_id)
        .order_by(User.name, RoleGrant.role)
    )
    return [(grant, user) for grant, user in rows]


def grant_role(
    session: Session, *, tenant_id: uuid.UUID, user: User, role: GrantedRole, granted_by: str
) -> RoleGrant:
    """Give `user` a branch role; granting one it already has is a `Conflict`."""
    exists = session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.tenant_id == tenant_id, RoleGrant.user_id == user.id, RoleGrant.role == role
        )
    )
    if exists is not None:
        raise Conflict(
            msg("The account already has %(role)s in this branch.", role=Role(role.value))
        )
    grant = RoleGrant(tenant_id=tenant_id, user_id=user.id, role=role, granted_by=granted_by)
    session.add(grant)
    session.flush()
    return grant


def get_grant(session: Session, *, tenant_id: uuid.UUID, grant_id: uuid.UUID) -> RoleGrant:
    """One grant of the branch; `NotFound` otherwise."""
    grant = session.scalar(
        select(RoleGrant).where(RoleGrant.tenant_id == tenant_id, RoleGrant.id == grant_id)
    )
    if grant is None:
        raise NotFound(msg("No grant %(id)s in this branch.", id=grant_id))
    return grant


def revoke_grant(session: Session, *, grant: RoleGrant) -> None:
    """Take the role back; it stops working at the caller's next request."""
    session.delete(grant)
    session.flush()


# API tokens (in a tenant context)


def create_token(
    session: Session,
    *,
    tenant: Tenant,
    name: str,
    scope: TokenScope,
    expires_at: datetime,
    created_by: str,
) -> tuple[ApiToken, str]:
    """A new token for the branch; returns it and its secret, which is never shown again."""
    now = utcnow()
    if expires_at <= now:
        raise Invalid({"expires_at": msg("Must be in the future.")})
    if expires_at > now + timedelta(days=MAX_TOKEN_DAYS):
        raise Invalid({"expires_at": msg("Must be within %(n)s days.", n=MAX_TOKEN_DAYS)})
    secret = f"{TOKEN_PREFIX}{tenant.id.hex}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        tenant_id=tenant.id,
        name=name,
        scope=scope,
        secret_hash=secret_hash(secret),
        hint=secret[-4:],
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(token)
    session.flush()
    return token, secret


def token_tenant_id(secret: str) -> uuid.UUID | None:
    """The branch a token secret names, if it has a token's shape."""
    match = _TOKEN.match(secret)
    return uuid.UUID(match["tenant"]) if match else None


def live_token(session: Session, *, tenant_id: uuid.UUID, secret: str) -> ApiToken | None:
    """The token with this secret if it is neither revoked nor expired (tenant context)."""
    token = session.scalar(
        select(ApiToken).where(
            ApiToken.tenant_id == tenant_id, ApiToken.secret_hash == secret_hash(secret)
        )
    )
    if token is None or token.revoked_at is not None or token.expires_at <= utcnow():
        return None
    return token


def record_token_use(session: Session, *, token: ApiToken, now: datetime) -> None:
    """Note when the token was last used. A bookkeeping timestamp, not a change anyone made: an
    UPDATE statement rather than a flush, so it leaves no audit event ("system" updating the
    token at every use would bury the real events of the branch's log)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.tenant_id == token.tenant_id, ApiToken.id == token.id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def list_tokens(session: Session, *, tenant_id: uuid.UUID) -> list[ApiToken]:
    """The branch's tokens, newest first (revoked ones included, marked)."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.tenant_id == tenant_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, *, tenant_id: uuid.UUID, token_id: uuid.UUID) -> ApiToken:
    """Revoke a token at once; revoking it again changes nothing."""
    token = session.scalar(
        select(ApiToken).where(ApiToken.tenant_id == tenant_id, ApiToken.id == token_id)
    )
    if token is None:
        raise NotFound(msg("No API token %(id)s in this branch.", id=token_id))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token
