"""Reading an authoritative mapping file, before any Comune is looked up."""

import pytest

from rebuilding.errors import Invalid
from services.registry.mapping import parse

HEADER = "istat_code,ats,ambito,capofila\n"


def reasons(text):
    rows, rejected = parse(HEADER + text)
    return [row.line for row in rows], [(r["line"], r["reason"]) for r in rejected]


def test_well_formed_rows_pass_with_their_capofila_flag():
    rows, rejected = parse(HEADER + "016024,bergamo,Ambito DEMO,1\n016025,bergamo,Ambito DEMO,\n")
    assert rejected == []
    assert [(r.istat_code, r.capofila) for r in rows] == [("016024", True), ("016025", False)]


def test_malformed_rows_are_rejected_with_their_line():
    kept, rejected = reasons("16024,bergamo,Ambito DEMO,\n016024,lazio,Ambito DEMO,\n016024,bergamo,,\n016024,bergamo,Ambito DEMO,forse\n")
    assert kept == []
    assert rejected == [(2, "malformed"), (3, "malformed"), (4, "malformed"), (5, "malformed")]


def test_a_comune_the_file_puts_in_two_ambiti_is_rejected_on_both_rows():
    kept, rejected = reasons("016024,bergamo,Ambito DEMO A,\n016024,bergamo,Ambito DEMO B,\n016025,bergamo,Ambito DEMO A,\n")
    assert kept == [4]
    assert rejected == [(2, "comune_in_two_ambiti"), (3, "comune_in_two_ambiti")]


def test_a_comune_repeated_for_the_same_ambito_is_not_a_conflict():
    kept, rejected = reasons("016024,bergamo,Ambito DEMO,\n016024,bergamo,ambito  demo,\n")
    assert kept == [2, 3] and rejected == []


def test_a_second_capofila_for_one_ambito_is_rejected():
    kept, rejected = reasons("016024,bergamo,Ambito DEMO,si\n016025,bergamo,Ambito DEMO,si\n")
    assert kept == [2]
    assert rejected == [(3, "two_capofila")]


def test_a_file_without_the_expected_columns_is_invalid_as_a_whole():
    with pytest.raises(Invalid) as invalid:
        parse("codice,ambito\n016024,DEMO\n")
    assert "missing column istat_code" in invalid.value.details["file"]


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x7f"])
def test_a_file_with_a_control_character_is_refused_whole_naming_the_column_and_line(bad):
    with pytest.raises(Invalid) as refused:
        parse(HEADER + "016024,bergamo,Ambito DEMO,1\n" + f"016025,bergamo,Ambito{bad} DEMO,\n")
    assert refused.value.details == {"ambito": [f"line 3: contains a control character (U+{ord(bad):04X}), "
                                                "which is not allowed here"]}


def test_a_line_break_inside_a_quoted_cell_or_an_overlong_name_is_refused():
    with pytest.raises(Invalid) as refused:
        parse(HEADER + '016024,bergamo,"Ambito\nDEMO",1\n')
    assert list(refused.value.details) == ["ambito"]
    with pytest.raises(Invalid) as refused:
        parse(HEADER + f"016024,bergamo,{'A' * 201},1\n")
    assert list(refused.value.details) == ["ambito"]


def test_a_header_with_a_control_character_or_a_file_that_is_not_csv_is_refused():
    with pytest.raises(Invalid) as refused:
        parse("istat_code,ats,ambito,capofila\x00\n016024,bergamo,Ambito DEMO,1\n")
    assert list(refused.value.details) == ["file"]
    with pytest.raises(Invalid) as refused:
        parse(HEADER + "016024,bergamo," + "A" * 200_000 + ",1\n")  # past the csv module's field limit
    assert list(refused.value.details) == ["file"]
