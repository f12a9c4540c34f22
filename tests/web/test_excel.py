"""Excel: the rankings and a roster exported (with the API's permissions and masking), and a
roster imported after a preview that names each bad row, all or nothing."""

from __future__ import annotations

import html
import io
import re

from openpyxl import Workbook, load_workbook

from tests.web.conftest import BRANCH_MEMBER, SECRETARY, csrf_of, signed_in, text_of

BRANCH = "tianli-textile"  # a small branch of the demo zone: imports here touch no other test
IMPORT = f"/t/{BRANCH}/members/import"


def _sheet(response):
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    return load_workbook(io.BytesIO(response.data)).active


def _xlsx(*rows) -> io.BytesIO:
    book = Workbook()
    for row in rows:
        book.active.append(list(row))
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def _roster_names(client) -> list[str]:
    sheet = _sheet(client.get(f"/t/{BRANCH}/members.xlsx"))
    return [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_the_rankings_export_follows_the_page_filters_and_is_for_zone_roles(demo_app):
    client = signed_in(demo_app, "zone-viewer")
    sheet = _sheet(client.get("/zone/rankings.xlsx?enterprise_type=foreign-funded"))
    header = [cell.value for cell in sheet[1]]
    assert header[:5] == ["名次", "支部", "行业", "企业类型", "总分"]
    assert "规定会议完成率: 分子" in header
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[1] for row in rows] == ["博世汽车部件党支部"]
    assert signed_in(demo_app, SECRETARY).get("/zone/rankings.xlsx").status_code == 403


def test_the_roster_export_masks_personal_fields_for_a_reader(demo_app):
    admin = _sheet(signed_in(demo_app, f"{BRANCH}-secretary").get(f"/t/{BRANCH}/members.xlsx"))
    reader = _sheet(signed_in(demo_app, f"{BRANCH}-member").get(f"/t/{BRANCH}/members.xlsx"))
    phone = [cell.value for cell in admin[1]].index("电话")
    shown = [row[phone] for row in admin.iter_rows(min_row=2, values_only=True) if row[phone]]
    masked = [row[phone] for row in reader.iter_rows(min_row=2, values_only=True) if row[phone]]
    assert shown and all("*" not in p for p in shown)
    assert masked and all("*" in p for p in masked)
    # another branch's roster is not found
    assert signed_in(demo_app, BRANCH_MEMBER).get(f"/t/{BRANCH}/members.xlsx").status_code == 404


def test_an_import_with_a_bad_row_is_previewed_with_its_errors_and_writes_nothing(demo_app):
    client = signed_in(demo_app, f"{BRANCH}-secretary")
    before = _roster_names(client)
    upload = _xlsx(
        ["姓名", "性别", "类别", "党员状态", "电话"],
        ["导入好人", "男", "职工", None, "13800000001"],
        ["导入坏人", "男", "职工", "正式党员", "123"],
    )
    response = client.post(
        IMPORT,
        data={"csrf_token": csrf_of(client), "step": "preview", "file": (upload, "roster.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = text_of(response.get_data(as_text=True))
    assert "有 1 行存在错误" in page
    assert "电话 : 手机号为以 1 开头的 11 位数字" in page
    assert "导入坏人 男 123 职工 正式党员" in page  # the preview shows choices by their label
    assert 'value="import"' not in response.text  # nothing to confirm
    assert _roster_names(client) == before


def test_an_import_is_previewed_then_saved_whole(demo_app):
    client = signed_in(demo_app, f"{BRANCH}-secretary")
    token = csrf_of(client)
    upload = _xlsx(
        ["Name", "Gender", "Category", "Party status", "Joined the party"],
        ["导入甲", "male", "Worker", None, None],
        ["导入乙", "女", "党员", "预备党员", "2025-07-01"],
        [None, None, None, None, None],
    )
    preview = client.post(
        IMPORT,
        data={"csrf_token": token, "step": "preview", "file": (upload, "roster.xlsx")},
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    assert "导入甲" not in _roster_names(client)  # a preview saves nothing
    rows = html.unescape(re.search(r'name="rows" value="([^"]*)"', preview.text).group(1))
    saved = client.post(IMPORT, data={"csrf_token": token, "step": "import", "rows": rows})
    assert saved.status_code == 303
    names = _roster_names(client)
    assert "导入甲" in names and "导入乙" in names


def test_a_file_that_is_not_a_workbook_is_refused_and_readers_cannot_import(demo_app):
    client = signed_in(demo_app, f"{BRANCH}-secretary")
    junk = client.post(
        IMPORT,
        data={
            "csrf_token": csrf_of(client),
            "step": "preview",
            "file": (io.BytesIO(b"x"), "a.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert junk.status_code == 422
    assert "该文件不是 Excel 表格" in junk.get_data(as_text=True)
    reader = signed_in(demo_app, f"{BRANCH}-member")
    assert reader.get(IMPORT).status_code == 403
