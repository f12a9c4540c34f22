"""The role map (`PMSC_ROLE_MAP`): the identity provider's own group names to our roles.

Rules from YAML and JSON files: a regular expression with a `(?P<branch>...)` group or a fixed
`branch` for branch roles, none for zone roles; every rule that matches adds its role; groups no
rule matches are ignored. A malformed file is a `RoleMapError` naming the rule (or the file), and
a bad `PMSC_ROLE_MAP` stops the service with a `ConfigError` naming the variable. End to end, an
app with a map accepts a token whose groups are the provider's names, for bearer callers and
browser sessions, and no longer honours the default `pmsc:...` names. The README's example map
is a valid map.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from service import create_app, schema_migrations
from service.access import service as access
from service.auth.role_map import DEFAULT_RULES, RoleMap, RoleMapError
from service.auth.roles import Role
from service.config import ConfigError, Settings
from service.database import db
from tests.api.helpers import tenant_body
from tests.conftest import VALID_MEMBER, Caller, environment

README = Path(__file__).resolve().parents[2] / "README.md"

MAP_YAML = """\
# the zone's directory names its groups its own way
rules:
  - match: "^CN=PartyCommittee-Admins,OU=Groups,DC=zone$"
    role: zone:admin
  - match: "^CN=PartyCommittee-(Staff|Admins),OU=Groups,DC=zone$"
    role: zone:viewer
  - match: "^CN=Party-Secretaries-(?P<branch>[a-z0-9-]+)$"
    role: branch:admin
  - match: "^CN=Party-(Members|Secretaries)-(?P<branch>[a-z0-9-]+)$"
    role: branch:member
  - match: "^hengtong-party-members$"
    role: branch:member
    branch: hengtong-optics
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def as_json(rules: list[dict]) -> str:
    return json.dumps({"rules": rules}, ensure_ascii=False)


@pytest.fixture
def yaml_map(tmp_path) -> RoleMap:
    return RoleMap.from_file(write(tmp_path, "roles.yaml", MAP_YAML))


# --- what a map confers --------------------------------------------------------------------------


def test_yaml_map_reads_zone_roles_and_branches_from_group_names(yaml_map):
    zone, branches = yaml_map.roles(
        [
            "CN=PartyCommittee-Staff,OU=Groups,DC=zone",
            "CN=Party-Secretaries-xinghe-tech",
            "CN=Party-Members-yunchuang",
        ]
    )
    assert zone == {Role.ZONE_VIEWER}
    assert branches == {
        "xinghe-tech": {Role.BRANCH_ADMIN, Role.BRANCH_MEMBER},  # two rules match: both count
        "yunchuang": {Role.BRANCH_MEMBER},
    }


def test_every_matching_rule_adds_its_role(yaml_map):
    zone, branches = yaml_map.roles(["CN=PartyCommittee-Admins,OU=Groups,DC=zone"])
    assert zone == {Role.ZONE_ADMIN, Role.ZONE_VIEWER}
    assert branches == {}


def test_fixed_branch_rule_names_the_branch_outright(yaml_map):
    assert yaml_map.roles(["hengtong-party-members"]) == (
        frozenset(),
        {"hengtong-optics": {Role.BRANCH_MEMBER}},
    )


def test_unmatched_groups_and_non_strings_are_ignored(yaml_map):
    zone, branches = yaml_map.roles(
        [
            "pmsc:zone:admin",  # the default names mean nothing under a map
            "pmsc:branch:xinghe-tech:admin",
            "CN=Party-Secretaries-",  # no branch
            "cn=party-secretaries-xinghe-tech",  # patterns are case-sensitive
            "CN=Party-Secretaries-Bad_Slug",
            "CN=Party-Secretaries-x",  # captured, but too short to be a slug
            42,
            None,
        ]
    )
    assert (zone, branches) == (frozenset(), {})


def test_json_map_reads_the_same_rules(tmp_path):
    rules = [
        {"match": "^部门-党委-管理员$", "role": "zone:admin"},
        {"match": r"^(?P<branch>[a-z0-9-]+)\.party\.admins$", "role": "branch:admin"},
        {"match": "^all-members$", "role": "branch:member", "branch": "hengtong-optics"},
    ]
    role_map = RoleMap.from_file(write(tmp_path, "roles.json", as_json(rules)))
    zone, branches = role_map.roles(["部门-党委-管理员", "xinghe.party.admins", "all-members"])
    assert zone == {Role.ZONE_ADMIN}
    assert branches == {
        "xinghe": {Role.BRANCH_ADMIN},
        "hengtong-optics": {Role.BRANCH_MEMBER},
    }


def test_yml_suffix_and_json_content_in_a_yaml_file_both_load(tmp_path):
    rules = [{"match": "^admins$", "role": "zone:admin"}]
    for name in ("roles.yml", "roles.txt"):
        role_map = RoleMap.from_file(write(tmp_path, name, as_json(rules)))
        assert role_map.roles(["admins"])[0] == {Role.ZONE_ADMIN}


def test_default_map_reads_the_default_names_only():
    role_map = RoleMap()
    assert role_map.rules == DEFAULT_RULES
    assert role_map.roles(["pmsc:zone:viewer", "pmsc:branch:xinghe-tech:member"]) == (
        {Role.ZONE_VIEWER},
        {"xinghe-tech": {Role.BRANCH_MEMBER}},
    )
    assert role_map.roles(["CN=Party-Secretaries-xinghe-tech"]) == (frozenset(), {})


def test_the_readme_example_map_is_a_valid_map(tmp_path):
    blocks = re.findall(r"```ya?ml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    examples = [block for block in blocks if "rules:" in block]
    assert examples, "README.md documents PMSC_ROLE_MAP with a YAML example"
    role_map = RoleMap.from_file(write(tmp_path, "example.yaml", examples[0]))
    assert role_map.rules
    kinds = {rule.role for rule in role_map.rules}
    assert kinds & {Role.ZONE_ADMIN, Role.ZONE_VIEWER} and kinds & {Role.BRANCH_ADMIN}


# --- malformed files -----------------------------------------------------------------------------

GOOD = {"match": "^admins$", "role": "zone:admin"}

BAD_RULES = {
    "bad regex": ({"match": "^CN=(unclosed$", "role": "zone:admin"}, "regular expression"),
    "empty match": ({"match": "", "role": "zone:admin"}, "'match'"),
    "match not a string": ({"match": 42, "role": "zone:admin"}, "'match'"),
    "no match": ({"role": "zone:admin"}, "'match'"),
    "unknown role": ({"match": "^x$", "role": "branch:owner"}, "'role' must be one of"),
    "no role": ({"match": "^x$"}, "'role' must be one of"),
    "token role": ({"match": "^x$", "role": "token:read-write", "branch": "abc"}, "'role'"),
    "branch role without branch": (
        {"match": "^secretaries$", "role": "branch:admin"},
        "(?P<branch>...)",
    ),
    "branch that is not a slug": (
        {"match": "^x$", "role": "branch:member", "branch": "Not A Slug"},
        "'branch' must be a branch slug",
    ),
    "zone role with branch": (
        {"match": "^x$", "role": "zone:viewer", "branch": "xinghe-tech"},
        "zone role takes no 'branch'",
    ),
    "unknown key": ({"match": "^x$", "role": "zone:admin", "group": "x"}, "'match', 'role'"),
    "not a mapping": ("^x$ -> zone:admin", "'match', 'role'"),
}


@pytest.mark.parametrize("suffix", ["yaml", "json"])
@pytest.mark.parametrize("case", list(BAD_RULES))
def test_invalid_rule_is_refused_with_a_message_naming_the_rule(tmp_path, case, suffix):
    rule, says = BAD_RULES[case]
    path = write(tmp_path, f"roles.{suffix}", as_json([GOOD, GOOD, rule]))  # JSON is YAML too
    with pytest.raises(RoleMapError) as raised:
        RoleMap.from_file(path)
    message = str(raised.value)
    assert "rule #3" in message, message
    assert says in message, message


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.yaml", "", "non-empty list under 'rules'"),
        ("empty-rules.yaml", "rules: []\n", "non-empty list under 'rules'"),
        ("no-rules.json", '{"mappings": []}', "non-empty list under 'rules'"),
        ("rules-not-a-list.yaml", "rules:\n  match: x\n", "non-empty list under 'rules'"),
        ("a-list.json", '[{"match": "^x$", "role": "zone:admin"}]', "under 'rules'"),
        ("a-string.yaml", "just some text\n", "under 'rules'"),
        ("broken.yaml", "rules:\n  - match: [unclosed\n", "not valid"),
        ("broken.json", '{"rules": [', "not valid"),
        ("tabs.yaml", "rules:\n\t- match: x\n", "not valid"),
        ("latin1.yaml", "rules:\n  - match: caf\xe9\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_invalid_file_is_refused_with_a_message_naming_the_file(tmp_path, name, content, says):
    path = write(tmp_path, name, content)
    with pytest.raises(RoleMapError) as raised:
        RoleMap.from_file(path)
    assert str(path) in str(raised.value)
    assert says in str(raised.value)


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_unreadable_file_is_refused(tmp_path, what):
    path = tmp_path / "roles.yaml"
    if what == "directory":
        path.mkdir()
    with pytest.raises(RoleMapError, match="cannot read"):
        RoleMap.from_file(path)


@pytest.mark.parametrize(
    "content",
    [
        "rules: [{match: '^(x$', role: zone:admin}]\n",
        "rules: [{match: '^x$', role: branch:admin}]\n",
        "rules: []\n",
        "rules: [{match: caf\xe9, role: zone:admin}]\n".encode("latin-1"),
    ],
    ids=["bad-regex", "branch-role-without-branch", "no-rules", "not-utf-8"],
)
def test_bad_role_map_setting_stops_the_service_naming_the_variable(tmp_path, content):
    env, _ = environment("sqlite", tmp_path, PMSC_ROLE_MAP=str(write(tmp_path, "r.yaml", content)))
    with pytest.raises(ConfigError, match=r"^PMSC_ROLE_MAP: "):
        Settings.from_env(env)


def test_missing_role_map_file_stops_the_service_naming_the_variable(tmp_path):
    env, _ = environment("sqlite", tmp_path, PMSC_ROLE_MAP=str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ConfigError, match=r"^PMSC_ROLE_MAP: cannot read .*nowhere\.yaml"):
        Settings.from_env(env)


def test_unset_role_map_means_the_default_names(tmp_path):
    env, _ = environment("sqlite", tmp_path, PMSC_ROLE_MAP="")
    assert Settings.from_env(env).role_map.rules == DEFAULT_RULES


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture
def mapped_app(tmp_path, issuer):
    """An app of its own (SQLite) whose provider names groups its own way."""
    env, _ = environment(
        "sqlite",
        tmp_path,
        PMSC_OIDC_ISSUER=issuer.url,
        PMSC_OIDC_AUDIENCE=issuer.audience,
        PMSC_ROLE_MAP=str(write(tmp_path, "roles.yaml", MAP_YAML)),
    )
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    app = create_app(env)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_app_with_a_role_map_honours_the_provider_names_and_not_the_defaults(mapped_app, issuer):
    client = mapped_app.test_client()

    def caller(*groups: str) -> Caller:
        return Caller(client, issuer.token(list(groups)))

    committee = caller("CN=PartyCommittee-Admins,OU=Groups,DC=zone")
    body = tenant_body(slug=f"xh-{uuid.uuid4().hex[:8]}")
    assert committee.post("/api/v1/zone/tenants", json=body).status_code == 201
    slug = body["slug"]
    members = f"/api/v1/t/{slug}/members"

    secretary = caller(f"CN=Party-Secretaries-{slug}")
    me = secretary.get("/api/v1/me").json
    assert me["zone_roles"] == []
    assert me["branches"][0]["slug"] == slug
    assert me["branches"][0]["roles"] == ["branch:admin", "branch:member"]
    created = secretary.post(members, json=VALID_MEMBER)
    assert created.status_code == 201, created.json
    assert created.json["id_card_number"] == VALID_MEMBER["id_card_number"]

    member = caller(f"CN=Party-Members-{slug}")
    assert member.get(members).json[0]["phone"] == "138****5678"
    assert member.post(members, json=VALID_MEMBER).status_code == 403

    staff = caller("CN=PartyCommittee-Staff,OU=Groups,DC=zone")
    assert staff.get("/api/v1/zone/tenants").status_code == 200
    assert staff.post("/api/v1/zone/tenants", json=tenant_body()).status_code == 403
    assert staff.get(members).status_code == 403  # zone roles read no records

    # the default names mean nothing now
    assert caller(f"pmsc:branch:{slug}:admin").get(members).status_code == 404
    assert caller("pmsc:zone:admin").get("/api/v1/zone/tenants").status_code == 403
    assert caller("pmsc:zone:admin").get("/api/v1/me").json["zone_roles"] == []


def test_browser_session_roles_come_through_the_role_map(mapped_app, issuer):
    client = mapped_app.test_client()
    committee = Caller(client, issuer.token(["CN=PartyCommittee-Admins,OU=Groups,DC=zone"]))
    body = tenant_body(slug=f"xh-{uuid.uuid4().hex[:8]}")
    assert committee.post("/api/v1/zone/tenants", json=body).status_code == 201
    settings = mapped_app.config["PMSC_SETTINGS"]
    with mapped_app.app_context():
        session = db.new_session()
        user = access.upsert_user(
            session,
            issuer=issuer.url,
            subject="secretary-1",
            name="王书记",
            username="wang",
            email=None,
            groups=[f"CN=Party-Secretaries-{body['slug']}", f"pmsc:branch:{body['slug']}:admin"],
        )
        record, secret = access.start_session(
            session, user=user, id_token=None, lifetime=settings.session_lifetime
        )
        csrf = record.csrf_token
        session.commit()
        session.close()
    browser = mapped_app.test_client()
    browser.set_cookie("pmsc_session", secret)
    me = browser.get("/api/v1/me").json
    assert [(b["slug"], b["roles"]) for b in me["branches"]] == [
        (body["slug"], ["branch:admin", "branch:member"])
    ]
    written = browser.post(
        f"/api/v1/t/{body['slug']}/party-groups",
        json={"name": "第一党小组"},
        headers={"X-CSRF-Token": csrf},
    )
    assert written.status_code == 201, written.json
