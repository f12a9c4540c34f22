"""Registering tenants at the service level (the API and the command line both call it)."""

import pytest

from tenants import provisioning
from tenants.context import Context
from tenants.isolation import bind_context


@pytest.mark.parametrize("slug", ["abc\n", "ab", "-abc", "abc-", "ABC", "a" * 41, "支部"])
def test_create_tenant_refuses_a_malformed_slug_and_writes_nothing(db_session, slug):
    bind_context(db_session, Context.system())
    before = provisioning.list_tenants(db_session)[1]
    with pytest.raises(ValueError, match="slug"):
        provisioning.create_tenant(
            db_session,
            slug=slug,
            name="支部",
            enterprise_name="企业",
            enterprise_type="private",
            industry="制造",
            employee_count=10,
            organization_type="branch",
        )
    db_session.rollback()
    assert provisioning.list_tenants(db_session)[1] == before
