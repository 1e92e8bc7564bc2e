"""Every query form the grammar supports, compiled for both KQL targets and
checked with Kusto.Language: no error diagnostics, and the result columns
Kusto.Language infers equal the IR's output columns (names and types).

The shared corpus (tests/queries/corpus.kql) covers every operator and
scalar form; the extra queries below add forms the corpus leaves out. A
column mismatch here means the resolver's column rules and Kusto disagree.
"""

from __future__ import annotations

import pytest

import queries
from backends.kql import generate
from kqlcheck import assert_valid_kql
from translator.parser import parse_query
from translator.resolver import resolve
from translator.schema import load_catalog

EXTRA = {
    "nested_logic_in_not": (
        "EmailEvents\n"
        "| where not(Subject has \"a\" or (AttachmentCount > 1 and UrlCount < 2))\n"
        "| extend Score = (AttachmentCount + UrlCount) * 2 - BulkComplaintLevel % 3\n"
        "| project Score, Subject\n"
    ),
    "dynamic_keys": (
        "CloudAppEvents\n"
        "| extend Container = tostring(RawEventData[\"k8s.container.name\"]), Eighteen = RawEventData[\"18\"],"
        " Spaced = RawEventData[\"a key\"], First = RawEventData.Items[0]\n"
        "| project Container, Eighteen, Spaced, First\n"
    ),
    "function_aliases": (
        "EmailEvents\n"
        "| extend B = toboolean(\"false\"), T = totime(\"01:00:00\"), J = parsejson(AdditionalFields),"
        " O = toobject(AdditionalFields), V6 = ipv6_is_in_range(SenderIPv6, \"fe80::/10\")\n"
        "| project B, T, J, O, V6\n"
    ),
    "aggregates": (
        "EmailEvents\n"
        "| summarize Mean = avg(UrlCount), Subjects = make_list(Subject), arg_min(Timestamp, Subject)"
        " by SenderFromDomain\n"
    ),
    "timestamp_output": (
        "EmailEvents\n"
        "| where Timestamp > ago(1d)\n"
        "| summarize Last = max(Timestamp), Count = count() by SenderFromAddress\n"
    ),
}

CASES = {**queries.load(), **EXTRA}


def _resolve(text: str, platform: str):
    return resolve(parse_query(text), load_catalog(platform))


CASE_PARAMS = [
    pytest.param(platform, name, id=f"{platform}-{name}")
    for platform in ("defender", "sentinel")
    for name in CASES
]


@pytest.mark.parametrize("platform, name", CASE_PARAMS)
def test_corpus_query_valid_kql(kusto, platform, name):
    result = _resolve(CASES[name], platform)
    assert_valid_kql(kusto, generate(result.node), platform, result.node.columns)
