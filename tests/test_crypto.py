"""Encryption at rest of ID-card numbers and phones: the database holds Fernet tokens, never the
plaintext (read with raw SQL past the ORM); `FieldCipher` decrypts with any configured key,
encrypts and rotates to the first, and names `PMSC_DATA_KEY` when no key fits."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import create_engine, text

from service import create_app
from service.crypto import FieldCipher
from tests.conftest import DATA_KEY, VALID_MEMBER, Caller, branch_admin_of

PHONE = VALID_MEMBER["phone"]
CARD = VALID_MEMBER["id_card_number"]


def _raw_rows(url: str, name: str, tenant_id: uuid.UUID | None = None) -> list[dict]:
    """Every column of the members named `name`, as stored. With `tenant_id`, the tenant is set
    for row-level security the way the app sets it (transaction-local)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if tenant_id is not None:
                connection.execute(
                    text("SELECT set_config('pmsc.tenant_id', :t, true)"), {"t": str(tenant_id)}
                )
            rows = connection.execute(text("SELECT * FROM members WHERE name = :n"), {"n": name})
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def _owner_url(app_env) -> str:
    return app_env.get("PMSC_ADMIN_DATABASE_URL") or app_env["PMSC_DATABASE_URL"]


def _create_member(make_branch, as_groups, **fields) -> tuple:
    branch = make_branch()
    name = f"加密{uuid.uuid4().hex[:8]}"
    admin = branch_admin_of(as_groups, branch)
    response = admin.post(
        f"/api/v1/t/{branch.slug}/members", json={**VALID_MEMBER, "name": name, **fields}
    )
    assert response.status_code == 201, response.json
    assert response.json["phone"] == PHONE  # the API gives the admin the clear text back
    return branch, admin, name


def test_id_card_and_phone_are_fernet_tokens_in_the_database(app_env, make_branch, as_groups):
    _branch, _admin, name = _create_member(make_branch, as_groups)
    [row] = _raw_rows(_owner_url(app_env), name)

    stored = " ".join(str(value) for value in row.values())
    assert PHONE not in stored
    assert CARD not in stored
    assert CARD[-6:] not in stored  # not even a fragment
    for column, plaintext in (("phone", PHONE), ("id_card_number", CARD)):
        token = row[column]
        assert token.startswith("gAAAAA")  # Fernet version byte 0x80, base64
        assert Fernet(DATA_KEY.encode()).decrypt(token.encode()).decode() == plaintext
    assert row["name"] == name  # other columns are stored as they are


def test_the_same_value_encrypts_differently_each_time(app_env, make_branch, as_groups):
    _branch, _admin, first = _create_member(make_branch, as_groups)
    _branch, _admin, second = _create_member(make_branch, as_groups)
    [a] = _raw_rows(_owner_url(app_env), first)
    [b] = _raw_rows(_owner_url(app_env), second)
    assert a["phone"] != b["phone"]
    assert a["id_card_number"] != b["id_card_number"]


def test_the_app_role_reads_only_tokens_too(app_env, backend, make_branch, as_groups):
    if backend != "postgresql":
        pytest.skip("the app role and row-level security are PostgreSQL's")
    branch, _admin, name = _create_member(make_branch, as_groups)
    url = app_env["PMSC_DATABASE_URL"]
    assert _raw_rows(url, name) == []  # no tenant set: row-level security shows nothing
    [row] = _raw_rows(url, name, tenant_id=branch.id)
    assert PHONE not in row["phone"] and row["phone"].startswith("gAAAAA")
    assert CARD not in row["id_card_number"] and row["id_card_number"].startswith("gAAAAA")


def test_empty_fields_stay_null(app_env, make_branch, as_groups):
    _branch, _admin, name = _create_member(make_branch, as_groups)
    [row] = _raw_rows(_owner_url(app_env), name)
    assert row["notes"] is None


def test_a_new_first_key_reads_old_rows_and_rotation_moves_them_to_it(
    app_env, issuer, make_branch, as_groups
):
    from service.database import db
    from service.members.keys import rotate_member_fields

    branch, admin, name = _create_member(make_branch, as_groups)
    member_id = admin.get(f"/api/v1/t/{branch.slug}/members", query_string={"name": name}).json[0][
        "id"
    ]
    audit = f"/api/v1/t/{branch.slug}/audit"
    events_before = admin.get(audit).json
    new_key = Fernet.generate_key().decode()
    rotated = create_app({**app_env, "PMSC_DATA_KEY": f"{new_key},{DATA_KEY}"})
    try:
        reader = Caller(rotated.test_client(), issuer.token([f"pmsc:branch:{branch.slug}:admin"]))
        read = reader.get(f"/api/v1/t/{branch.slug}/members/{member_id}")
        assert (read.json["phone"], read.json["id_card_number"]) == (PHONE, CARD)

        with rotated.app_context():
            session = db.new_session()
            assert rotate_member_fields(session, tenant_id=branch.id) == 1
            session.commit()
            session.close()
        read_again = reader.get(f"/api/v1/t/{branch.slug}/members/{member_id}")
        assert read_again.json == read.json  # same values, same version and updated_at
        assert read_again.headers["ETag"] == read.headers["ETag"]
        # rotation changes no value: the audit log has nothing new to say
        assert reader.get(audit).json == events_before
    finally:
        with rotated.app_context():
            db.engine.dispose()

    [row] = _raw_rows(_owner_url(app_env), name)
    for column, plaintext in (("phone", PHONE), ("id_card_number", CARD)):
        assert Fernet(new_key.encode()).decrypt(row[column].encode()).decode() == plaintext
        with pytest.raises(InvalidToken):
            Fernet(DATA_KEY.encode()).decrypt(row[column].encode())


# FieldCipher


def _key() -> str:
    return Fernet.generate_key().decode()


def test_first_key_encrypts_and_every_key_decrypts():
    old, new = _key(), _key()
    old_token = FieldCipher((old,)).encrypt("13812345678")

    cipher = FieldCipher((new, old))
    assert cipher.decrypt(old_token) == "13812345678"
    new_token = cipher.encrypt("13812345678")
    assert FieldCipher((new,)).decrypt(new_token) == "13812345678"
    with pytest.raises(ValueError, match="PMSC_DATA_KEY"):
        FieldCipher((old,)).decrypt(new_token)


def test_rotate_re_encrypts_an_old_token_with_the_first_key():
    old, new = _key(), _key()
    old_token = FieldCipher((old,)).encrypt(CARD)

    rotated = FieldCipher((new, old)).rotate(old_token)
    assert rotated != old_token
    assert FieldCipher((new,)).decrypt(rotated) == CARD  # the old key can now be dropped
    with pytest.raises(ValueError, match="PMSC_DATA_KEY"):
        FieldCipher((old,)).decrypt(rotated)


@pytest.mark.parametrize("operation", ["decrypt", "rotate"])
@pytest.mark.parametrize(
    "token",
    [FieldCipher((Fernet.generate_key().decode(),)).encrypt("x"), "not-a-token", ""],
    ids=["unknown-key", "garbage", "empty"],
)
def test_a_token_no_key_fits_raises_value_error_naming_pmsc_data_key(operation, token):
    cipher = FieldCipher((_key(), _key()))
    with pytest.raises(ValueError, match="PMSC_DATA_KEY") as raised:
        getattr(cipher, operation)(token)
    if token:
        assert token not in str(raised.value)  # the message leaks no data


def test_cipher_repr_shows_no_key():
    key = _key()
    assert key not in repr(FieldCipher((key,)))
    assert key[:8] not in repr(FieldCipher((key,)))
