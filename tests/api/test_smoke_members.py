"""The roster end to end through the API, as a branch admin and a branch member."""

from tests.conftest import VALID_MEMBER, branch_admin_of, branch_member_of


def test_branch_admin_creates_and_reads_a_member_in_clear(make_branch, as_groups):
    branch = make_branch()
    admin = branch_admin_of(as_groups, branch)
    created = admin.post(f"/api/v1/t/{branch.slug}/members", json=VALID_MEMBER)
    assert created.status_code == 201, created.json
    assert created.headers["ETag"]
    read = admin.get(f"/api/v1/t/{branch.slug}/members/{created.json['id']}")
    assert read.status_code == 200
    assert read.json["id_card_number"] == VALID_MEMBER["id_card_number"]
    assert read.json["phone"] == VALID_MEMBER["phone"]


def test_branch_member_sees_id_card_and_phone_masked(make_branch, as_groups):
    branch = make_branch()
    created = branch_admin_of(as_groups, branch).post(
        f"/api/v1/t/{branch.slug}/members", json=VALID_MEMBER
    )
    member = branch_member_of(as_groups, branch)
    read = member.get(f"/api/v1/t/{branch.slug}/members/{created.json['id']}")
    assert read.status_code == 200
    assert read.json["id_card_number"] == "320***********1235"
    assert read.json["phone"] == "138****5678"
