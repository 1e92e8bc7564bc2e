"""The `sentinel` and `defender` targets: KQL text and its deployable packaging."""

from __future__ import annotations

from dataclasses import dataclass

from backends import Artifact, CompileSettings
from backends.kql import generate


@dataclass(frozen=True)
class KqlTarget:
    name: str
    platform: str
    formats: tuple[str, ...]
    option_keys: tuple[str, ...]

    def compile(self, analysis, fmt: str, settings: CompileSettings) -> list[Artifact]:
        if fmt == "query":
            return [Artifact(generate(analysis.node), "kql", fmt)]
        raise NotImplementedError(fmt)


TARGETS = {
    "sentinel": KqlTarget("sentinel", "sentinel", ("query",), ()),
    "defender": KqlTarget("defender", "defender", ("query",), ()),
}
