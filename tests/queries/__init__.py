"""The shared query corpus: valid query texts that every front-end test reuses.

`corpus.kql` holds the queries, each introduced by a line `// === name`.
`load()` returns them as an ordered mapping from name to text.
"""

from __future__ import annotations

import re
from pathlib import Path

CORPUS_PATH = Path(__file__).with_name("corpus.kql")

_HEADER = re.compile(r"^// === (?P<name>[A-Za-z0-9_]+)\s*$", re.M)


def load(path: Path = CORPUS_PATH) -> dict[str, str]:
    """Return {name: query text} in file order; text before the first header is ignored."""
    text = path.read_text(encoding="utf-8")
    headers = list(_HEADER.finditer(text))
    queries: dict[str, str] = {}
    for header, following in zip(headers, headers[1:] + [None]):
        end = following.start() if following else len(text)
        name = header["name"]
        if name in queries:
            raise ValueError(f"{path}: query name '{name}' is used twice")
        queries[name] = text[header.end() : end].strip() + "\n"
    return queries
