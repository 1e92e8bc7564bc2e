"""Write a Sigma rule as a rulecast rule file.

The query is the rule compiled for Defender XDR Advanced Hunting, printed as
rulecast query text (the language's tables are the Advanced Hunting tables;
Sentinel reads the same query with `TimeGenerated`). Sigma filters that name
the rule become entries of `exclusions` where the exclusion syntax expresses
them exactly (`translator.sigma.exclusion`). Otherwise a filter stays in the
query as a labelled `where` stage of its condition, which keeps the events the
condition is true for, with the reason in a comment. The Sigma metadata that
has a rulecast key moves there (title, description, level, ATT&CK tags); the
author, references, false positives and the Sigma id go into
`description-detailed`, so the Detection Rule License's attribution stays
with the rule.
"""

from __future__ import annotations

import json

from backends.kql import generate
from translator.sigma.exclusion import SigmaExclusion, exclusion_for
from translator.sigma.mapping import Refusal, load_mapping
from translator.sigma.rules import SigmaDocument, SigmaSet, make_rule, node_for


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def import_document(document: SigmaDocument, sigma_set: SigmaSet | None = None) -> str:
    """Return the rulecast rule file text for a Sigma document; raise `Refusal` when it has no Defender form."""
    node = node_for(document, "defender", sigma_set)
    exclusions, kept = _split_filters(document, sigma_set)
    if exclusions:
        node = node_for(document, "defender", sigma_set, filters=[f for f, _ in kept])
    query = generate(node)
    rule = make_rule(document, query)
    data = document.data
    lines = [
        f"# Imported from the Sigma rule {document.path} by `rulecast import sigma`.",
        "# Sigma rules are under the Detection Rule License (DRL) 1.1; keep the author attribution.",
        f"id: {rule.id}",
        f"name: {_scalar(rule.name)}",
        f"description: {_scalar(rule.description)}",
    ]
    details = []
    if data.get("author"):
        details.append(f"Author: {data['author']}")
    details.append(f"Sigma rule id: {data.get('id', 'none')}")
    if data.get("status"):
        details.append(f"Sigma status: {data['status']}")
    for reference in data.get("references") or ():
        details.append(f"Reference: {reference}")
    for false_positive in data.get("falsepositives") or ():
        details.append(f"False positive: {false_positive}")
    lines.append(f"description-detailed: {_scalar(chr(10).join(str(d) for d in details))}")
    if rule.severity:
        lines.append(f"severity: {rule.severity}")
    if rule.tactics:
        lines.append("tactics: [" + ", ".join(rule.tactics) + "]")
    if rule.relevant_techniques:
        lines.append("relevantTechniques: [" + ", ".join(rule.relevant_techniques) + "]")
    for filter_document, reason in kept:
        lines.append(f"# The Sigma filter {_scalar(filter_document.title)} stays in the query as a where stage: "
                     f"{reason}.")
    lines.append("query: |")
    lines.extend("  " + line if line else "" for line in query.rstrip("\n").split("\n"))
    if exclusions:
        lines.append("exclusions:")
        for exclusion in exclusions:
            lines.append(f"  - name: {_scalar(exclusion.name)}")
            lines.append(f"    description: {_scalar(exclusion.description)}")
            lines.append(f"    filter: {_scalar(exclusion.filter)}")
            lines.append("    enabled: true")
    return "\n".join(lines) + "\n"


def _split_filters(document: SigmaDocument, sigma_set: SigmaSet | None):
    """Return the filters naming `document` that become exclusions, and the others with the reason for each."""
    filters = sigma_set.filters_for(document) if sigma_set and document.kind == "rule" else []
    if not filters:
        return [], []
    mapping = load_mapping("defender")
    source = document.sigma.logsource
    entry = mapping.logsource(source.product, source.category, source.service)
    table = mapping.table(entry)
    exclusions: list[SigmaExclusion] = []
    kept = []
    for filter_document in filters:
        try:
            exclusion = exclusion_for(filter_document, mapping, entry, table, {e.name for e in exclusions})
        except Refusal as exc:
            kept.append((filter_document, exc.message))
            continue
        exclusions.append(exclusion)
    return exclusions, kept
