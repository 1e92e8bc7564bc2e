"""Write a Sigma rule as a rulecast rule file.

The query is the rule compiled for Defender XDR Advanced Hunting, printed as
rulecast query text (the language's tables are the Advanced Hunting tables;
Sentinel reads the same query with `TimeGenerated`). Sigma filters that name
the rule become `// exclusion:` stages of the query. The Sigma metadata that
has a rulecast key moves there (title, description, level, ATT&CK tags); the
author, references, false positives and the Sigma id go into
`description-detailed`, so the Detection Rule License's attribution stays
with the rule.
"""

from __future__ import annotations

import json

from backends.kql import generate
from translator.sigma.rules import SigmaDocument, SigmaSet, make_rule, node_for


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def import_document(document: SigmaDocument, sigma_set: SigmaSet | None = None) -> str:
    """Return the rulecast rule file text for a Sigma document; raise `Refusal` when it has no Defender form."""
    node = node_for(document, "defender", sigma_set)
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
    lines.append("query: |")
    lines.extend("  " + line if line else "" for line in query.rstrip("\n").split("\n"))
    return "\n".join(lines) + "\n"
