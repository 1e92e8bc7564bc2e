"""Safe YAML loading with positions, size limits and alias-expansion limits.

Rule files are loaded with libyaml's safe composer (PyYAML's pure-Python one
when libyaml is missing), then converted to Python values here so that every
key and value keeps its line and column, duplicate keys are errors, and a
document whose aliases expand past `MAX_NODES` (a "billion laughs" bomb) is
rejected before it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # libyaml missing
    _Loader = yaml.SafeLoader

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")

KeyPath = tuple  # e.g. ("exclusions", 0, "filter")


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class LoadedYaml:
    value: Any
    key_marks: dict[KeyPath, Mark]
    value_marks: dict[KeyPath, Mark]
    styles: dict[KeyPath, str | None]


class YamlError(Exception):
    def __init__(self, message: str, mark: Mark | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


def load(text: str) -> LoadedYaml:
    """Parse one YAML document into plain values, recording where each came from."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise YamlError(
            f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
            hint="keep test events in JSON Lines files next to the rule and reference them by path",
        )
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"invalid YAML: {problem}", where, _yaml_hint(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    loaded = LoadedYaml(None, {}, {}, {})
    if node is None:
        return loaded
    builder = _Builder(loaded)
    loaded.value = builder.build(node, (), 0)
    return loaded


def _yaml_hint(exc: yaml.MarkedYAMLError) -> str | None:
    """Say where the construct that failed began, or suggest the usual cause."""
    context = exc.context_mark
    problem = exc.problem_mark
    if exc.problem and ("expected key" in exc.problem or "block end" in exc.problem or "indent" in exc.problem):
        return "check the indentation: the keys of one mapping must start in the same column"
    if exc.context and context is not None and (problem is None or context.line != problem.line):
        return f"{exc.context} that starts at line {context.line + 1}, column {context.column + 1}"
    if exc.problem and "'\\t'" in exc.problem:
        return "indent with spaces, not tabs"
    return None


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, loaded: LoadedYaml):
        self.loaded = loaded
        self.count = 0
        self.entry_mark: Mark | None = None  # the top-level key being built
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(
                f"document expands to more than {MAX_NODES} nodes (too large, or aliases that multiply)",
                # Aliases share nodes, so the node's own mark may be far from the
                # entry that multiplies them; name that entry instead.
                self.entry_mark or _mark(node),
            )
        if depth > MAX_DEPTH:
            raise YamlError(f"document is nested more than {MAX_DEPTH} levels deep", _mark(node))
        self.loaded.value_marks[path] = _mark(node)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTION_TAGS:
            raise YamlError(f"unsupported YAML tag '{node.tag}'", _mark(node), "remove the tag; rule files are plain YAML")
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise YamlError("merge keys ('<<') are not supported in rule files", _mark(key_node))
                key = self.build_scalar_key(key_node)
                if key in result:
                    raise YamlError(f"duplicate key '{key}'", _mark(key_node))
                self.loaded.key_marks[path + (key,)] = _mark(key_node)
                if depth == 0:
                    self.entry_mark = _mark(key_node)
                result[key] = self.build(value_node, path + (key,), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        self.loaded.styles[path] = node.style
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlError(f"invalid value: {exc.problem}", _mark(node)) from None

    def build_scalar_key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise YamlError("mapping keys must be plain scalars", _mark(node))
        return self.constructor.construct_object(node)
