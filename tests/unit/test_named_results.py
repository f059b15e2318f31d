"""Named results and row caps, the pure parts: rules, selection, splitting, capping and rendering."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from shared.command_rules import check_command_config, result_keys
from shared.errors import InvalidInput
from shared.schedule_rules import check_results, check_row_limits, delivered_row_limit
from workers import png_format
from workers.commands.base import (
    LIMITED_BY_MAX_ROW_LIMIT,
    LIMITED_BY_ROW_LIMIT,
    Blob,
    CommandError,
    Document,
    Rows,
    Text,
    Tile,
    Tiles,
)
from workers.commands.sql import selected_queries
from workers.formats import render
from workers.tabular import cut_note, row_shares
from workers.tiles import limit_rows, select_result, split_json_results

SALES = Rows(["region", "amount"], [("east", 5), ("west", 7), ("north", 1)])
RETURNS = Rows(["region", "refunds"], [("east", 2)])
TILES = Tiles([Tile("sales", SALES), Tile("returns", RETURNS)])
CUT = Tiles([Tile("sales", Rows(SALES.columns, SALES.rows[:2], LIMITED_BY_MAX_ROW_LIMIT)), Tile("returns", RETURNS)])
JSON = "application/json"


def _pdf_lines(body: bytes) -> list[str]:
    return [line for page in PdfReader(io.BytesIO(body)).pages for line in page.extract_text().splitlines()]


def test_result_keys_are_declared_by_sql_queries_and_http_result_keys_only() -> None:
    sql = check_command_config("sql", {"data_source": "wh", "queries": {"b": "SELECT 2", "a": "SELECT 1"}}, ["wh"])
    http = check_command_config("http", {"url": "https://r.example/x", "result_keys": ["a"]}, [])
    single = check_command_config("sql", {"data_source": "wh", "query": "SELECT 1"}, ["wh"])

    assert result_keys("sql", sql) == ["b", "a"] and result_keys("http", http) == ["a"]
    assert result_keys("sql", single) == [] and result_keys("template", {"result_keys": ["a"]}) == []
    assert result_keys(None, {}) == [] and result_keys("plugin", {"result_keys": ["a"]}) == []


def test_query_key_must_be_declared_and_is_case_sensitive() -> None:
    check_results("sales", ["sales", "returns"], "json", {})
    check_results(None, [], "json", {})
    for key, declared in (("Sales", ["sales"]), ("sales", []), ("x", ["a", "b"])):
        with pytest.raises(InvalidInput) as caught:
            check_results(key, declared, "json", {})
        assert caught.value.detail == f"Couldn't find query presentation for key: {key}"


def test_sheet_name_is_refused_only_for_a_workbook_of_several_results() -> None:
    check_results("sales", ["sales", "returns"], "xlsx", {"sheet_name": "Q1"})
    check_results(None, ["sales"], "xlsx", {"sheet_name": "Q1"})
    check_results(None, [], "xlsx", {"sheet_name": "Q1"})
    with pytest.raises(InvalidInput, match=r"^format_options\.sheet_name: This schedule delivers 2 results"):
        check_results(None, ["sales", "returns"], "xlsx", {"sheet_name": "Q1"})


@pytest.mark.parametrize(("max_rows", "override", "delivered"), [
    (None, False, 10_000), (None, True, 1_000_000), (1, False, 1), (10_000, False, 10_000),
    (10_001, True, 10_001), (1_000_000, True, 1_000_000),
])
def test_row_limits_within_the_caps_give_the_rows_delivered(max_rows: int | None, override: bool,
                                                            delivered: int) -> None:
    check_row_limits(max_rows, override)
    assert delivered_row_limit(max_rows, override) == delivered


@pytest.mark.parametrize(("max_rows", "override", "message"), [
    (10_001, False, "max_row_limit: Must be at most 10000 unless override_row_limit is true (then up to 1000000)"),
    (1_000_001, True, "max_row_limit: Must be between 1 and 1000000"),
    (0, True, "max_row_limit: Must be between 1 and 1000000"),
])
def test_row_limits_past_the_caps_are_refused(max_rows: int, override: bool, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_row_limits(max_rows, override)
    assert caught.value.detail == message


def test_sql_runs_the_one_query_every_named_one_in_order_or_the_chosen_one() -> None:
    named = {"queries": {"a": "SELECT 1", "b": "SELECT 2"}, "result_keys": ["b", "a"]}

    assert selected_queries({"query": "SELECT 0"}, None) == [(None, "SELECT 0")]
    assert selected_queries(named, None) == [("b", "SELECT 2"), ("a", "SELECT 1")]
    assert selected_queries(named, "a") == [("a", "SELECT 1")]
    for config, key in ((named, "c"), ({"query": "SELECT 0"}, "a")):
        with pytest.raises(CommandError, match=f"^Couldn't find query presentation for key: {key}$"):
            selected_queries(config, key)


def test_select_result_takes_one_tile_or_keeps_them_all() -> None:
    assert select_result(TILES, "returns") == RETURNS
    assert select_result(TILES, None) is TILES
    assert select_result(SALES, None) is SALES
    for content in (TILES, SALES):
        with pytest.raises(CommandError, match=r"^Couldn't find query presentation for key: stock$"):
            select_result(content, "stock")


def test_an_http_answer_is_split_into_its_declared_results() -> None:
    body = json.dumps({"sales": [{"a": 1}], "returns": {"b": 2}, "meta": "x"}).encode()

    split = split_json_results(Blob(body, JSON), ["sales", "returns"], None)
    assert split == Tiles([Tile("sales", Document([{"a": 1}])), Tile("returns", Document({"b": 2}))])
    assert split_json_results(Blob(body, "application/vnd.x+json"), ["sales", "returns"], "returns") == Tiles(
        [Tile("returns", Document({"b": 2}))])


@pytest.mark.parametrize(("blob", "message"), [
    (Blob(b"<p>hi</p>", "text/html"), "http command: the response is text/html, not the JSON object of results "
                                      "config.result_keys names (sales, returns)"),
    (Blob(b"{nope", JSON), "http command: the response is not valid JSON, so its results (sales, returns) cannot be "
                           "read"),
    (Blob(b"[1, 2]", JSON), "http command: the response is a JSON array, not an object of the results "
                            "config.result_keys names (sales, returns)"),
    (Blob(b'{"sales": []}', JSON), "http command: the response has no result returns (config.result_keys: sales, "
                                   "returns)"),
])
def test_an_http_answer_that_is_not_an_object_of_the_results_fails(blob: Blob, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        split_json_results(blob, ["sales", "returns"], None)
    assert str(caught.value) == message


def test_limit_rows_cuts_tables_and_marks_them() -> None:
    assert limit_rows(SALES, 2) == Rows(SALES.columns, SALES.rows[:2], LIMITED_BY_MAX_ROW_LIMIT)
    assert limit_rows(SALES, 3) is SALES and limit_rows(SALES, None) is SALES
    assert limit_rows(TILES, 1) == Tiles([Tile("sales", Rows(SALES.columns, SALES.rows[:1], LIMITED_BY_MAX_ROW_LIMIT)),
                                          Tile("returns", RETURNS)])
    assert limit_rows(Document([{"a": 1}, {"a": 2}]), 1) == Document([{"a": 1}], LIMITED_BY_MAX_ROW_LIMIT)
    blob = Blob(b'[{"a": 1}, {"a": 2}, {"a": 3}]', JSON)
    assert limit_rows(blob, 2) == Document([{"a": 1}, {"a": 2}], LIMITED_BY_MAX_ROW_LIMIT)
    assert limit_rows(blob, 3) is blob  # not cut: the renderer's bytes are kept


def test_limit_rows_leaves_what_has_no_rows() -> None:
    for content in (Text("hello"), Blob(b"%PDF-1.7", "application/pdf"), Blob(b"{bad", JSON),
                    Blob(b"[1, 2, 3]", JSON), Document({"a": 1}), Document([1, 2, 3])):
        assert limit_rows(content, 1) is content


def test_cut_note_names_what_cut_the_result() -> None:
    assert cut_note(SALES) is None
    assert cut_note(Rows(["a"], [(1,)] * 1200, LIMITED_BY_MAX_ROW_LIMIT)) == (
        "Result cut to its first 1,200 rows by max_row_limit; it has more.")
    assert cut_note(Rows(["a"], [(1,)], LIMITED_BY_ROW_LIMIT)) == (
        "Result cut to its first 1 row by the command's row_limit; it has more.")


@pytest.mark.parametrize(("counts", "budget", "shares"), [
    ([500], 100, [100]), ([3, 500], 100, [3, 97]), ([500, 3], 100, [50, 3]), ([200, 200, 200], 100, [33, 33, 34]),
    ([], 100, []), ([0, 0], 100, [0, 0]),
])
def test_row_shares_split_a_formats_room_between_its_tables(counts: list[int], budget: int,
                                                            shares: list[int]) -> None:
    assert row_shares(counts, budget) == shares


def test_several_results_in_json_csv_and_text() -> None:
    as_json = render(TILES, "json", {"indent": 1})
    assert json.loads(as_json.body) == {"sales": [{"region": "east", "amount": 5}, {"region": "west", "amount": 7},
                                                  {"region": "north", "amount": 1}],
                                        "returns": [{"region": "east", "refunds": 2}]}
    assert as_json.row_count == 4 and b'\n "sales"' in as_json.body
    as_csv = render(TILES, "csv", {"delimiter": ";"})
    assert as_csv.body.decode().split("\r\n") == ["sales", "region;amount", "east;5", "west;7", "north;1", "",
                                                  "returns", "region;refunds", "east;2", ""]
    assert render(TILES, "csv", {"include_header": False}).body.decode().split("\r\n")[:2] == ["sales", "east,5"]
    assert render(TILES, "text").body.decode().splitlines() == ["sales", "region\tamount", "east\t5", "west\t7",
                                                                "north\t1", "", "returns", "region\trefunds",
                                                                "east\t2"]


def test_several_results_make_a_sheet_each_in_xlsx() -> None:
    rendered = render(Tiles([Tile("sales", SALES), Tile("returns", Document({"region": "east", "refunds": 2}))]),
                      "xlsx")
    book = load_workbook(io.BytesIO(rendered.body))
    assert book.sheetnames == ["sales", "returns"] and rendered.row_count == 4
    assert [list(r) for r in book["returns"].iter_rows(values_only=True)] == [["region", "refunds"], ["east", 2]]


def test_html_heads_each_result_and_notes_a_cut_one() -> None:
    page = render(CUT, "html", {}, "Pack").body.decode()
    assert page.index("<h2>sales</h2><table>") < page.index(
        "</table><p class=\"note\">Result cut to its first 2 rows by max_row_limit; it has more.</p><h2>returns</h2>")
    assert page.count("class=\"note\"") == 1
    single = render(Rows(["a"], [(1,)], LIMITED_BY_ROW_LIMIT), "html", {}, "One").body.decode()
    assert "<h2>" not in single and "by the command&#x27;s row_limit" in single


def test_pdf_draws_a_table_per_result_under_its_key() -> None:
    lines = _pdf_lines(render(CUT, "pdf", {}, "Pack").body)
    assert lines[:5] == ["Pack", "sales", "region amount", "east 5", "west 7"]
    assert lines[5:] == ["Result cut to its first 2 rows by max_row_limit; it has more.", "returns", "region refunds",
                         "east 2", "1 / 1"]


def test_png_shares_its_rows_between_the_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png_format, "MAX_ROWS", 4)
    many = Rows(["n"], [(i,) for i in range(10)])

    def height(content: Rows | Tiles) -> int:
        return Image.open(io.BytesIO(render(content, "png", {"hide_title": True}, "T").body)).height

    one, two = height(Tiles([Tile("a", many)])), height(Tiles([Tile("a", many), Tile("b", many)]))
    # Two tables with 2 rows each instead of one with 4: one more heading, header row and note.
    assert two - one == 18 + 12 + 24 + 24 + 8
    assert height(Tiles([Tile("a", many)])) - height(many) == 18 + 12  # the key's heading
    cut = Rows(["n"], [(1,)], LIMITED_BY_MAX_ROW_LIMIT)
    assert height(cut) - height(Rows(["n"], [(1,)])) == 24  # the line saying it was cut
