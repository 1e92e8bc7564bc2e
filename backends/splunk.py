"""The `splunk` target: SPL for Splunk, packaged as a query, a saved search, a
security_content (contentctl) detection, or the macros.conf stanzas it needs.

Rules resolve against the Defender XDR catalog, since Defender's streaming API
is what brings these tables into Splunk. The SPL itself comes from
`backends.splunk_spl`; the data mapping from `backends.splunk_mapping`.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from backends import Artifact, CompileSettings
from backends.splunk_mapping import DEFAULT_PATH, Mapping, load_mapping
from backends.splunk_spl import SplError, SplGenerator
from translator import ir
from translator.diagnostics import Diagnostic, QueryError, RulecastError, Span
from translator.types import Type

TEMPLATES = Path(__file__).with_name("templates")

OPTION_DEFAULTS = {
    "cron_schedule": "0 * * * *",
    "earliest_time": "-1h@h",
    "latest_time": "@h",
    "join_unique_side": "right",
    "author": "rulecast",
    "status": "production",
    "detection_type": "Hunting",
    "security_domain": "threat",
    "asset_type": "Endpoint",
    "analytic_story": [],
    "date": None,
}
OPTION_CHOICES = {
    "join_unique_side": ("left", "right"),
    "detection_type": ("TTP", "Anomaly", "Hunting", "Correlation"),
    "status": ("production", "experimental", "deprecated"),
    "security_domain": ("endpoint", "network", "threat", "identity", "access", "audit", "cloud"),
}
# Splunk's alert.severity: 1 debug, 2 info, 3 warning, 4 error, 5 severe, 6 fatal.
ALERT_SEVERITY = {"Informational": 2, "Low": 3, "Medium": 4, "High": 5}

_mapping_cache: dict[str, Mapping] = {}


def mapping_for(settings: CompileSettings) -> Mapping:
    key = settings.splunk_mapping or str(DEFAULT_PATH)
    if key not in _mapping_cache:
        _mapping_cache[key] = load_mapping(settings.splunk_mapping)
    return _mapping_cache[key]


def snake_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "rule"


def _options(analysis) -> dict:
    rule = analysis.rule
    given = dict(rule.options.get("splunk", {}))
    options = dict(OPTION_DEFAULTS)
    for key, value in given.items():
        if key == "date" and isinstance(value, datetime.date):
            value = value.isoformat()  # YAML reads an unquoted 2026-12-04 as a date
        expected = OPTION_DEFAULTS[key]
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value) if isinstance(expected, list) \
            else isinstance(value, str)
        if not ok or (key in OPTION_CHOICES and value not in OPTION_CHOICES[key]):
            allowed = OPTION_CHOICES.get(key)
            shape = "a list of strings" if isinstance(expected, list) else "a string"
            hint = "one of: " + ", ".join(allowed) if allowed else None
            location = rule.location(("options", "splunk", key))
            raise RulecastError(Diagnostic("error", f"splunk option '{key}' must be {shape}"
                                           + (f" from {', '.join(allowed)}" if allowed else ""), location, hint))
        options[key] = value
    return options


def _require_date(rule, options: dict) -> None:
    """Raise unless the rule gives the `date` that a contentctl detection requires, as YYYY-MM-DD."""
    date = options.get("date")
    if date is None:
        raise RulecastError(Diagnostic(
            "error", "splunk: a contentctl detection requires a date, and the rule gives none",
            rule.location(("name",)), "set options.splunk.date to the detection's date, such as \"2026-12-04\""))
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise RulecastError(Diagnostic(
            "error", f"splunk option 'date' must be a date written YYYY-MM-DD, not '{date}'",
            rule.location(("options", "splunk", "date")), "write it as 2026-12-04"))


def split_exclusions(node: ir.Node) -> tuple[ir.Node, list[ir.Filter]]:
    """Split off the exclusion (labelled) filters that end `node`; return the rest and those filters in order."""
    filters = []
    while isinstance(node, ir.Filter) and node.label is not None:
        filters.append(node)
        node = node.input
    return node, filters[::-1]


def _conf_value(text: str) -> str:
    return " ".join(str(text).split())


def _conf_lines(text: str) -> str:
    # A .conf value continues onto the next line after a trailing backslash.
    return " \\\n".join(text.rstrip("\n").split("\n"))


def _yaml_string(text) -> str:
    return json.dumps(" ".join(str(text).split()), ensure_ascii=False)


def _yaml_list(items) -> str:
    return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def _comment_text(text: str) -> str:
    return " ".join(str(text).replace("`", "'").split())


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    autoescape=False,
)
_env.filters.update(conf_value=_conf_value, conf_lines=_conf_lines, yaml_string=_yaml_string,
                    yaml_list=_yaml_list, comment=_comment_text)


@dataclass(frozen=True)
class SplunkTarget:
    name: str = "splunk"
    platform: str = "defender"
    formats: tuple[str, ...] = ("query", "savedsearch", "contentctl", "macros")
    option_keys: tuple[str, ...] = tuple(OPTION_DEFAULTS)

    def search(self, analysis, settings: CompileSettings, options: dict | None = None,
               node: ir.Node | None = None) -> str:
        """Return the SPL search for the rule (or for `node`, a part of it), without packaging."""
        options = options if options is not None else _options(analysis)
        generator = SplGenerator(mapping_for(settings), settings.splunk_join, options["join_unique_side"])
        try:
            return generator.generate(analysis.node if node is None else node)
        except SplError as exc:
            raise RulecastError(analysis.rule.diagnostic(exc)) from None

    def filter_definition(self, analysis, settings: CompileSettings) -> str:
        """Return the definition of the `<rule>_filter` macro: the exclusions that end the rule's IR, or `search *`."""
        _, filters = split_exclusions(analysis.node)
        if not filters:
            return "search *"
        rule = analysis.rule
        for node in filters:
            types = {c.name: c.type for c in node.input.columns}
            spans = sorted({e.name for e in ir.walk_exprs(node.predicate)
                            if isinstance(e, ir.ColumnRef) and types.get(e.name) is Type.TIMESPAN})
            if spans:
                from translator.exclusions import filter_path

                exclusion = next(e for e in rule.exclusions if e.name == node.label)
                error = QueryError(
                    f"exclusion '{exclusion.name}' reads the timespan column '{spans[0]}', which is text in the "
                    f"{snake_name(rule.name)}_filter macro (after the search's final table command)",
                    Span(0, len(exclusion.filter), 0, 0),
                    "compile the query or savedsearch format, which apply exclusions inline, or --exclusions none")
                raise RulecastError(rule.diagnostic(error, text_path=filter_path(exclusion), text=exclusion.filter))
        try:
            return SplGenerator(mapping_for(settings)).filter_macro(filters)
        except SplError as exc:
            raise RulecastError(rule.diagnostic(exc)) from None

    def compile(self, analysis, fmt: str, settings: CompileSettings) -> list[Artifact]:
        rule = analysis.rule
        options = _options(analysis)
        mapping = mapping_for(settings)
        if fmt == "macros":
            return [Artifact(self.macros(analysis, mapping, self.filter_definition(analysis, settings)),
                             "macros.conf", fmt)]
        if fmt == "contentctl":
            # The exclusions go in the filter macro that ends the search (`--format macros` prints it).
            search = self.search(analysis, settings, options, node=split_exclusions(analysis.node)[0])
            self.filter_definition(analysis, settings)  # raises when the macro cannot contain an exclusion
        else:
            search = self.search(analysis, settings, options)
        if fmt == "query":
            text = _env.get_template("splunk_query.j2").render(rule=rule, search=search.rstrip("\n"))
            return [Artifact(text, "spl", fmt)]
        description = rule.description
        if fmt == "savedsearch":
            annotations = json.dumps({"mitre_attack": rule.relevant_techniques}, separators=(", ", ": "))
            text = _env.get_template("splunk_savedsearch.j2").render(
                rule=rule, search=search, options=options, description=description, annotations=annotations,
                alert_severity=ALERT_SEVERITY.get(rule.severity or "Medium", 4),
            )
            return [Artifact(text, "savedsearches.conf", fmt)]
        if fmt == "contentctl":
            _require_date(rule, options)
            filter_macro = snake_name(rule.name) + "_filter"
            full = search.rstrip("\n") + f"\n| `{filter_macro}`"
            enabled = [e for e in rule.exclusions if e.enabled]
            known = " ".join(f"{e.name}: {e.description}" for e in enabled) or "None known."
            tables = ", ".join(sorted({s.table for s in ir.sources(analysis.node)}))
            how = (f"Stream the Defender XDR tables {tables} to an Azure Event Hub and read them with the Splunk "
                   "Add-on for Microsoft Cloud Services; define the macros that `rulecast compile --target splunk "
                   "--format macros` prints, with your index.")
            version = int((rule.version or "1").split(".")[0])
            text = _env.get_template("splunk_contentctl.j2").render(
                rule=rule, search=full, options=options, description=description, how_to_implement=how,
                known_false_positives=known, version=version,
            )
            # contentctl requires each detection's file name to be its name in snake case.
            return [Artifact(text, "yml", fmt, stem=snake_name(rule.name))]
        raise RulecastError(Diagnostic("error", f"splunk: unknown format '{fmt}'"))

    def macros(self, analysis, mapping: Mapping, filter_definition: str) -> str:
        tables = []
        for source in ir.sources(analysis.node):
            if source.table not in tables:
                tables.append(source.table)
        macros = [
            {"name": t.macro, "definition": t.search,
             "description": f"Events of the Defender XDR table {t.table}, columns under '{t.field_prefix}'"}
            for t in (mapping.table(name) for name in tables)
        ]
        filter_macro = snake_name(analysis.rule.name) + "_filter"
        macros.append({"name": filter_macro, "definition": filter_definition,
                       "description": f"False-positive filter for {_conf_value(analysis.rule.name)}: the rule's "
                                      "exclusions, and any site-specific ones you add"})
        mapping_name = "(shipped)" if Path(mapping.path) == DEFAULT_PATH else Path(mapping.path).name
        return _env.get_template("splunk_macros.j2").render(
            rule=analysis.rule, macros=macros, mapping_name=mapping_name)


TARGETS = {"splunk": SplunkTarget()}
