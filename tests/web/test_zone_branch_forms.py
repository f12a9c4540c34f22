"""The zone's branch register pages: the list, registering a branch and editing one (its status
changed only with a confirmation), version-guarded; committee admins write, committee viewers
read, branch users are refused. A zone of its own (registering and suspending branches would
change the figures the demo zone's tests read)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenants import provisioning
from tenants.registry import EnterpriseType, OrganizationType, Tenant, TenantStatus
from tests.web.conftest import csrf_of, dev_login_app, in_zone, signed_in, text_of

EXISTING = "alpha-optics"
BRANCHES = "/zone/branches"
NEW_BRANCH = {
    "slug": "beta-foods",
    "name": "贝塔食品党支部",
    "enterprise_name": "贝塔食品有限公司",
    "enterprise_type": "joint-venture",
    "industry": "食品制造",
    "employee_count": "240",
    "organization_type": "branch",
}


@pytest.fixture(scope="module")
def zone_app(backend: str, tmp_path_factory) -> Iterator[Flask]:
    """An app with the development login over a zone of one registered branch."""

    def seed(session: Session) -> None:
        provisioning.create_tenant(
            session,
            slug=EXISTING,
            name="阿尔法光学党委",
            enterprise_name="阿尔法光学股份有限公司",
            enterprise_type=EnterpriseType.PRIVATE,
            industry="光学仪器",
            employee_count=800,
            organization_type=OrganizationType.COMMITTEE,
        )

    tmp = tmp_path_factory.mktemp(f"zone-forms-{backend}")
    with dev_login_app(backend, tmp, actor="test:zone-forms", seed=seed) as app:
        yield app


def _branch(app: Flask, slug: str) -> Tenant | None:
    def read(session: Session) -> Tenant | None:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        session.expunge_all()
        return tenant

    return in_zone(app, read)


def test_the_register_lists_every_branch_in_chinese_with_its_status(zone_app):
    client = signed_in(zone_app, "zone-admin")
    response = client.get(BRANCHES)
    assert response.status_code == 200
    page = text_of(response.get_data(as_text=True))
    assert "支部登记" in page and "阿尔法光学党委" in page and "登记支部" in page
    assert "党委" in page and "正常" in page  # organization type and status by their names


def test_a_committee_admin_registers_a_branch_and_its_space_exists(zone_app):
    client = signed_in(zone_app, "zone-admin")
    created = client.post(f"{BRANCHES}/new", data={"csrf_token": csrf_of(client), **NEW_BRANCH})
    assert created.status_code == 303
    tenant = _branch(zone_app, "beta-foods")
    assert tenant is not None and tenant.status == TenantStatus.ACTIVE
    assert (tenant.name, tenant.employee_count) == ("贝塔食品党支部", 240)
    assert tenant.enterprise_type == EnterpriseType.JOINT_VENTURE
    assert "贝塔食品党支部" in text_of(client.get(BRANCHES).get_data(as_text=True))
    secretary = signed_in(zone_app, "beta-foods-secretary")
    assert secretary.get("/t/beta-foods/").status_code == 200


def test_bad_or_taken_input_is_named_on_each_field_and_nothing_is_registered(zone_app):
    client = signed_in(zone_app, "zone-admin")
    token = csrf_of(client)
    bad = dict(NEW_BRANCH, slug="Gamma_", name="", employee_count="很多", enterprise_type="")
    refused = client.post(f"{BRANCHES}/new", data={"csrf_token": token, **bad})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    for field in ("slug", "name", "employee_count", "enterprise_type"):
        assert f'id="e-{field}"' in page, field
    assert "不是有效的整数。" in page and "此项必填。" in page
    assert _branch(zone_app, "gamma_") is None and _branch(zone_app, "Gamma_") is None
    taken = client.post(
        f"{BRANCHES}/new", data={"csrf_token": token, **dict(NEW_BRANCH, slug=EXISTING)}
    )
    assert taken.status_code == 409 and 'id="e-slug"' in taken.get_data(as_text=True)
    assert _branch(zone_app, EXISTING).name == "阿尔法光学党委"


def test_a_status_change_needs_its_confirmation_and_a_current_version(zone_app):
    client = signed_in(zone_app, "zone-admin")
    token = csrf_of(client)
    tenant = _branch(zone_app, EXISTING)
    form = {
        "csrf_token": token,
        "version": str(tenant.version),
        "name": tenant.name,
        "enterprise_name": tenant.enterprise_name,
        "enterprise_type": tenant.enterprise_type.value,
        "industry": "精密光学",
        "employee_count": "820",
        "organization_type": tenant.organization_type.value,
        "status": "suspended",
    }
    unconfirmed = client.post(f"{BRANCHES}/{EXISTING}/edit", data=form)
    assert unconfirmed.status_code == 422
    assert 'id="e-confirm_status"' in unconfirmed.get_data(as_text=True)
    assert _branch(zone_app, EXISTING).status == TenantStatus.ACTIVE
    stale = client.post(
        f"{BRANCHES}/{EXISTING}/edit",
        data=dict(form, version=str(tenant.version - 1), confirm_status="yes"),
    )
    assert stale.status_code == 409 and "此记录已被他人修改" in stale.get_data(as_text=True)
    assert _branch(zone_app, EXISTING).industry == "光学仪器"
    saved = client.post(f"{BRANCHES}/{EXISTING}/edit", data=dict(form, confirm_status="yes"))
    assert saved.status_code == 303
    changed = _branch(zone_app, EXISTING)
    assert (changed.status, changed.industry, changed.employee_count) == (
        TenantStatus.SUSPENDED,
        "精密光学",
        820,
    )
    assert changed.version == tenant.version + 1
    reactivated = client.post(
        f"{BRANCHES}/{EXISTING}/edit",
        data=dict(form, version=str(changed.version), status="active", confirm_status="yes"),
    )
    assert reactivated.status_code == 303
    assert _branch(zone_app, EXISTING).status == TenantStatus.ACTIVE


def test_viewers_read_the_register_and_branch_users_are_refused(zone_app):
    viewer = signed_in(zone_app, "zone-viewer")
    listing = viewer.get(BRANCHES)
    assert listing.status_code == 200 and "登记支部" not in listing.get_data(as_text=True)
    assert viewer.get(f"{BRANCHES}/new").status_code == 403
    token = csrf_of(viewer)
    refused = viewer.post(
        f"{BRANCHES}/new", data={"csrf_token": token, **dict(NEW_BRANCH, slug="delta-works")}
    )
    assert refused.status_code == 403 and _branch(zone_app, "delta-works") is None
    secretary = signed_in(zone_app, f"{EXISTING}-secretary")
    assert secretary.get(BRANCHES).status_code == 403
    assert secretary.get(f"{BRANCHES}/{EXISTING}/edit").status_code == 403
    admin = signed_in(zone_app, "zone-admin")
    assert admin.get(f"{BRANCHES}/no-such-branch/edit").status_code == 404
