"""Branches A and B, seeded and committed, for the isolation tests of this folder."""

from __future__ import annotations

import pytest

from tenants.context import Context
from tenants.isolation import bind_context
from tests.tenants.rosters import Roster, seed


@pytest.fixture
def branches(db_session, make_branch) -> tuple[Roster, Roster]:
    """Branches A (two members) and B (three members), committed; `db_session` is unbound."""
    a, b = make_branch(), make_branch()
    return seed(a.id, ("甲一", "甲二")), seed(b.id, ("乙一", "乙二", "乙三"))


@pytest.fixture
def in_a(db_session, branches):
    """`db_session` in branch A's context."""
    bind_context(db_session, Context.tenant(branches[0].tenant_id))
    return db_session
