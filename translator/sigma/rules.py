"""Sigma documents: loading, and compiling one document for one target.

A Sigma file contains one or more YAML documents: detection rules, filters
(`filter:`) and correlations (`correlation:`). Files are parsed with libyaml's
C loader and the parsed data is handed to pySigma (`SigmaRule.from_dict`,
`SigmaFilter.from_dict`, `SigmaCorrelationRule.from_dict`), which reads the
modifiers and the condition; `translator.sigma.convert` then turns the
detection tree into rulecast IR for each target.

Errors are `RulecastError`s positioned in the Sigma file; a document that
fails never stops the others.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from translator import ir
from translator.diagnostics import Diagnostic, Location, RulecastError
from translator.sigma.mapping import MappingError, Refusal, load_mapping

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SEVERITIES = {"informational": "Informational", "low": "Low", "medium": "Medium", "high": "High", "critical": "High"}
TACTICS = {
    "reconnaissance": "Reconnaissance",
    "resource-development": "ResourceDevelopment",
    "initial-access": "InitialAccess",
    "execution": "Execution",
    "persistence": "Persistence",
    "privilege-escalation": "PrivilegeEscalation",
    "defense-evasion": "DefenseEvasion",
    "credential-access": "CredentialAccess",
    "discovery": "Discovery",
    "lateral-movement": "LateralMovement",
    "collection": "Collection",
    "exfiltration": "Exfiltration",
    "command-and-control": "CommandAndControl",
    "impact": "Impact",
}
_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass
class SigmaDocument:
    """One YAML document of a Sigma file."""

    path: str
    index: int  # position of the document in its file
    text: str  # the document's own text
    first_line: int  # 1-based line of the document's first line in the file
    data: Any
    kind: str  # "rule", "filter", "correlation" or "invalid"
    sigma: Any = None  # the pySigma object
    error: str | None = None
    _trees: list | None = field(default=None, repr=False)
    predicates: dict = field(default_factory=dict, repr=False)

    def condition_trees(self, detections=None) -> list:
        """Return the parsed conditions (pySigma's condition trees), parsing them once per document."""
        from sigma.exceptions import SigmaError

        if detections is not None:
            return _parse_conditions(detections)
        if self._trees is None:
            try:
                self._trees = _parse_conditions(self.sigma.detection)
            except SigmaError as exc:
                raise Refusal(f"invalid condition: {_sigma_message(exc)}", "invalid rule") from None
        return self._trees

    @property
    def title(self) -> str:
        if isinstance(self.data, dict) and isinstance(self.data.get("title"), str):
            return self.data["title"]
        return f"{Path(self.path).name} document {self.index + 1}"

    @property
    def rule_id(self) -> str:
        value = self.data.get("id") if isinstance(self.data, dict) else None
        if value is not None:
            try:
                return str(uuid.UUID(str(value)))
            except ValueError:
                pass
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"rulecast-sigma:{Path(self.path).name}:{self.index}:{self.title}"))

    @property
    def name(self) -> str | None:
        value = self.data.get("name") if isinstance(self.data, dict) else None
        return value if isinstance(value, str) else None

    # ------------------------------------------------------------ positions

    def locate(self, *needles: str) -> Location:
        """Return the position of the first line holding one of `needles` (a key), or of the document."""
        lines = self.text.split("\n")
        for needle in needles:
            if not needle:
                continue
            pattern = re.compile(r"^(\s*(?:-\s+)?)['\"]?" + re.escape(needle) + r"(?=['\"]?\s*[|:])")
            for number, line in enumerate(lines):
                match = pattern.match(line)
                if match:
                    return Location(self.path, self.first_line + number, len(match.group(1)) + 1, line, len(needle))
        for number, line in enumerate(lines):
            if line.strip() and not line.lstrip().startswith("#"):
                return Location(self.path, self.first_line + number, 1, line, len(line.strip()))
        return Location(self.path, self.first_line, 1)

    def refusal(self, exc: Refusal, target: str | None = None) -> RulecastError:
        needles: list[str] = []
        if exc.field:
            needles.append(exc.field)
        if exc.kind == "unmapped log source":
            needles.append("logsource")
        if exc.kind == "expand placeholder without values":
            needles.append("")
        needles.extend(["detection", "correlation", "filter", "title"])
        location = self.locate(*needles)
        if exc.kind == "expand placeholder without values":
            location = self._locate_text("|expand") or location
        message = f"{target}: {exc.message}" if target else exc.message
        return RulecastError(Diagnostic("error", message, location, exc.hint))

    def _locate_text(self, text: str) -> Location | None:
        for number, line in enumerate(self.text.split("\n")):
            column = line.find(text)
            if column >= 0:
                return Location(self.path, self.first_line + number, column + 1, line, len(text))
        return None

    def invalid(self) -> RulecastError:
        return RulecastError(Diagnostic("error", f"invalid Sigma document: {self.error}", self.locate("detection", "title")))


# ---------------------------------------------------------------- loading


def is_sigma_data(data: Any) -> bool:
    """Return whether parsed YAML is a Sigma rule, filter or correlation rather than a rulecast rule."""
    return isinstance(data, dict) and "query" not in data and (
        "detection" in data or "correlation" in data or ("filter" in data and "logsource" in data)
    )


def is_sigma_file(path: str | Path) -> bool:
    """Return whether the file at `path` is a Sigma file.

    A Sigma file has a top-level `detection:`, `correlation:` or `filter:` key
    and no top-level `query:`. Only the keys are read, not the YAML, so that
    telling the kinds apart costs no second parse.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return bool(_SIGMA_KEY.search(text)) and not _QUERY_KEY.search(text)


_SIGMA_KEY = re.compile(r"(?m)^(detection|correlation|filter)\s*:")
_QUERY_KEY = re.compile(r"(?m)^query\s*:")


def _split_documents(text: str) -> list[tuple[int, str]]:
    """Split a multi-document YAML text on `---` lines; return (first line, text) pairs."""
    pieces: list[tuple[int, str]] = []
    start = 0
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if line.rstrip() == "---" or line.startswith("--- "):
            if number > start:
                pieces.append((start + 1, "\n".join(lines[start:number])))
            start = number + 1
    pieces.append((start + 1, "\n".join(lines[start:])))
    return [(first, chunk) for first, chunk in pieces if chunk.strip() and not _only_comments(chunk)]


def _only_comments(chunk: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in chunk.split("\n"))


def load_file(path: str | Path) -> list[SigmaDocument]:
    """Read a Sigma file; raise `RulecastError` when the file cannot be read or parsed as YAML."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulecastError(Diagnostic("error", f"cannot read Sigma file: {exc.strerror}", Location(path, 0, 0))) from None
    except UnicodeDecodeError:
        raise RulecastError(Diagnostic("error", "file is not valid UTF-8", Location(path, 1, 1))) from None
    return load_text(text, path)


def load_text(text: str, path: str = "<sigma>") -> list[SigmaDocument]:
    documents: list[SigmaDocument] = []
    for index, (first_line, chunk) in enumerate(_split_documents(text)):
        try:
            data = yaml.load(chunk, Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = first_line + mark.line if mark else first_line
            column = mark.column + 1 if mark else 1
            problem = getattr(exc, "problem", None) or str(exc)
            source = text.split("\n")[line - 1] if 0 < line <= text.count("\n") + 1 else None
            raise RulecastError(Diagnostic("error", f"invalid YAML: {problem}", Location(path, line, column, source))) from None
        documents.append(_build(path, index, chunk, first_line, data))
    return documents


def _build(path: str, index: int, text: str, first_line: int, data: Any) -> SigmaDocument:
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError
    from sigma.filters import SigmaFilter
    from sigma.rule import SigmaRule

    document = SigmaDocument(path, index, text, first_line, data, "invalid")
    if not isinstance(data, dict):
        document.error = "a Sigma document must be a YAML mapping"
        return document
    if "correlation" in data:
        kind, cls = "correlation", SigmaCorrelationRule
    elif "filter" in data and "logsource" in data and "detection" not in data:
        kind, cls = "filter", SigmaFilter
    elif "detection" in data:
        kind, cls = "rule", SigmaRule
    else:
        document.error = "the document has neither 'detection', 'filter' nor 'correlation'"
        return document
    try:
        document.sigma = cls.from_dict(data, policy=_policy())
        document.kind = kind
    except SigmaError as exc:
        document.error = _sigma_message(exc)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        document.error = f"{type(exc).__name__}: {exc}"
    return document


_POLICY = None


def _policy():
    """pySigma's policy with Python's regex engine: Sigma's `re` is a PCRE subset, wider than RE2.

    Whether a target can express a pattern is decided per target afterwards
    (KQL refuses look-around and back-references).
    """
    global _POLICY
    if _POLICY is None:
        from sigma.policy import SigmaPolicy
        from sigma.policy.regex_engine import PythonRegexEngine

        _POLICY = SigmaPolicy(regex_engine=PythonRegexEngine())
    return _POLICY


def _sigma_message(exc: Exception) -> str:
    text = str(exc)
    # pySigma appends the source location; positions are ours to report.
    return re.sub(r"\s+in rule\s+.*$", "", text).strip() or type(exc).__name__


# ---------------------------------------------------------------- the set of documents in a run


@dataclass
class SigmaSet:
    """All Sigma documents of one run, so that correlations and filters find the rules they name."""

    documents: list[SigmaDocument] = field(default_factory=list)
    placeholders: dict[str, list[str]] = field(default_factory=dict)
    _filters: dict[str, list[SigmaDocument]] | None = field(default=None, repr=False)
    _generated: dict[int, bool] | None = field(default=None, repr=False)

    def add(self, documents: Iterable[SigmaDocument]) -> None:
        self.documents.extend(documents)
        self._filters = None
        self._generated = None

    def find(self, reference: str) -> SigmaDocument | None:
        for document in self.documents:
            if document.kind != "rule":
                continue
            if document.name == reference or document.rule_id == reference or str(document.data.get("id")) == reference:
                return document
        return None

    def emitted_alone(self, document: SigmaDocument) -> bool:
        """Return whether a document is compiled or imported as a rule of its own.

        A detection rule that correlations in this set refer to is emitted on
        its own only when one of them sets `generate: true`. Sigma's default is
        `generate: false`, under which such a rule only feeds its correlations.
        """
        if document.kind != "rule":
            return True
        if self._generated is None:
            self._generated = {}
            for candidate in self.documents:
                if candidate.kind != "correlation" or not candidate.sigma.rules:
                    continue
                for reference in candidate.sigma.rules:
                    base = self.find(reference.reference)
                    if base is not None:
                        key = id(base)
                        self._generated[key] = self._generated.get(key, False) or bool(candidate.sigma.generate)
        return self._generated.get(id(document), True)

    def filters_for(self, document: SigmaDocument) -> list[SigmaDocument]:
        if self._filters is None:
            self._filters = {}
            for candidate in self.documents:
                if candidate.kind != "filter":
                    continue
                rules = candidate.data.get("filter", {}).get("rules", [])
                # NOTE: pySigma applies `rules: any` (or an empty list) to every rule of the filter's
                # log source. Here `any` only matches a rule named "any", and an empty list matches none.
                for reference in [rules] if isinstance(rules, str) else rules:
                    self._filters.setdefault(str(reference), []).append(candidate)
        found: list[SigmaDocument] = []
        for key in (document.rule_id, document.name, str(document.data.get("id"))):
            for candidate in self._filters.get(str(key), ()) if key else ():
                if candidate not in found:
                    found.append(candidate)
        return found


# ---------------------------------------------------------------- compiling


def detection_node(document: SigmaDocument, target: str, sigma_set: SigmaSet | None = None,
                   mapping_path: str | None = None, filters: list[SigmaDocument] | None = None) -> ir.Node:
    """Compile a detection rule to IR for `target`; raise `Refusal` when it cannot be.

    Each filter becomes a labelled `where` stage of the filter's condition:
    `filters`, or by default every filter of `sigma_set` that names the rule.
    A filter's condition selects the events to keep, and it is combined with
    the rule's condition by `and`, as pySigma 2.x does (`SigmaFilter.apply_on_rule`),
    so `condition: not selection` removes the selected events.
    """
    from translator.sigma.convert import TRUE, Translator, logical

    rule = document.sigma
    mapping = load_mapping(target, mapping_path)
    logsource = rule.logsource
    entry = mapping.logsource(logsource.product, logsource.category, logsource.service)
    table = mapping.table(entry)
    translator = Translator(mapping, entry, table, (sigma_set.placeholders if sigma_set else {}))
    # Targets that share a log source entry (Sentinel reads Defender's) share the
    # translated predicate when every column it reads has the same type.
    key = (id(entry), id(sigma_set.placeholders) if sigma_set else 0)
    cached = document.predicates.get(key)
    types = {c.name: c.type for c in table.columns}
    if cached is not None and not cached[2] and all(types.get(n) is t for n, t in cached[1].items()):
        predicate = cached[0]
        translator.used.update(cached[1])
    else:
        predicate = rule_predicate(document, translator)
        document.predicates[key] = (predicate, dict(translator.used), dict(translator.open_fields))
    predicates = translator.where() + [predicate]
    filter_stages: list[tuple[str, ir.Expr]] = []
    if filters is None:
        filters = sigma_set.filters_for(document) if sigma_set else []
    for filter_document in filters:
        filter_stages.append((filter_document.title, filter_predicate(filter_document, translator, logsource)))
    source = translator.source()
    node: ir.Node = ir.Filter(source, logical("and", predicates) if predicates else TRUE, source.columns)
    for label, condition in filter_stages:
        node = ir.Filter(node, condition, node.columns, label)
    return node


def _parse_conditions(detections) -> list:
    trees = []
    for condition in detections.parsed_condition:
        tree = condition.parse()
        if tree is None:
            raise Refusal("the condition selects nothing", "invalid rule")
        trees.append(tree)
    return trees


def rule_predicate(document: SigmaDocument, translator) -> ir.Expr:
    from translator.sigma.convert import logical

    return logical("or", [translator.condition(tree) for tree in document.condition_trees()])


def filter_predicate(document: SigmaDocument, translator, logsource) -> ir.Expr:
    """Translate a filter's condition, which is true for the events the filter keeps."""
    from sigma.exceptions import SigmaError

    from translator.sigma.convert import logical

    sigma_filter = document.sigma
    filter_source = sigma_filter.logsource
    for attribute in ("product", "category", "service"):
        wanted = getattr(filter_source, attribute)
        if wanted is not None and wanted != getattr(logsource, attribute):
            raise Refusal(f"filter '{document.title}' is for log source {attribute} '{wanted}', "
                          f"not the rule's", "filter for another log source")
    try:
        trees = document.condition_trees(sigma_filter.filter)
    except SigmaError as exc:
        raise Refusal(f"filter '{document.title}': invalid condition: {_sigma_message(exc)}", "invalid rule") from None
    return logical("or", [translator.condition(tree) for tree in trees])


def node_for(document: SigmaDocument, target: str, sigma_set: SigmaSet | None = None,
             mapping_path: str | None = None, filters: list[SigmaDocument] | None = None) -> ir.Node:
    """Compile any rule or correlation document to IR for `target` (`filters` as in `detection_node`)."""
    if document.kind == "invalid":
        raise Refusal(f"invalid Sigma document: {document.error}", "invalid rule")
    try:
        if document.kind == "correlation":
            from translator.sigma.correlation import correlation_node

            return correlation_node(document, target, sigma_set or SigmaSet([document]), mapping_path)
        if document.kind == "filter":
            raise Refusal("a Sigma filter is not a rule; it applies to the rules it names", "filter document")
        return detection_node(document, target, sigma_set, mapping_path, filters)
    except MappingError as exc:
        raise Refusal(str(exc), "mapping file error") from None


def make_rule(document: SigmaDocument, query: str):
    """Build the rulecast `Rule` that stands for a Sigma document in the pipeline."""
    from translator.rule import Rule
    from translator.yamlload import LoadedYaml, Mark

    data = document.data if isinstance(document.data, dict) else {}
    # A target's error about the query points at the rule's detection (or correlation).
    where = document.locate("detection", "correlation")
    marks = {("query",): Mark(where.line, where.column)} if where.line else {}
    description = data.get("description") if isinstance(data.get("description"), str) else document.title
    return Rule(
        path=document.path,
        text=_padded(document),
        data=data,
        loaded=LoadedYaml(data, {}, marks, {("query",): None}),
        id=document.rule_id,
        name=document.title,
        description=description.strip(),
        query=query,
        severity=SEVERITIES.get(str(data.get("level", "")).lower()),
        tactics=tactics(data),
        relevant_techniques=techniques(data),
    )


def _padded(document: SigmaDocument) -> str:
    """Return the document's text after blank lines, so that line numbers count from the file's start."""
    return "\n" * (document.first_line - 1) + document.text


def tactics(data: dict) -> list[str]:
    found = []
    for tag in data.get("tags") or ():
        if isinstance(tag, str) and tag.lower().startswith("attack."):
            name = TACTICS.get(tag[7:].lower().replace("_", "-"))
            if name and name not in found:
                found.append(name)
    return found


def techniques(data: dict) -> list[str]:
    found = []
    for tag in data.get("tags") or ():
        match = _TECHNIQUE_TAG.match(tag) if isinstance(tag, str) else None
        if match and match.group(1).upper() not in found:
            found.append(match.group(1).upper())
    return found


def target_settings(settings, target: str):
    """Return the compile settings for a Sigma rule; Splunk reads the Sigma-native tables through their own data mapping."""
    from dataclasses import replace

    from translator.sigma.mapping import MAPPING_DIR

    if target == "splunk" and settings.splunk_mapping is None:
        return replace(settings, splunk_mapping=str(MAPPING_DIR / "splunk_data.yaml"))
    return settings


def analysis_for(document: SigmaDocument, target_name: str, platform: str, sigma_set: SigmaSet | None = None,
                 mapping_path: str | None = None):
    """Return the `Analysis` a target backend compiles; raise `RulecastError` positioned in the Sigma file."""
    from translator.compiler import Analysis

    try:
        node = node_for(document, target_name, sigma_set, mapping_path)
    except Refusal as exc:
        error = document.refusal(exc)
        error.kind = exc.kind
        raise error from None
    # NOTE: the rule's query text is the Defender form; `rulecast import sigma` writes it.
    # Targets compile the IR, so it is not printed here.
    rule = make_rule(document, "")
    return Analysis(rule, None, node, platform, [])
