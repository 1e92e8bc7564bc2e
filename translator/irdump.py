"""A readable text dump of the resolved IR, for `rulecast debug ir`."""

from __future__ import annotations

from translator import ir


def dump(node: ir.Node) -> str:
    """Return the IR tree, one node per line, each followed by its output columns."""
    from backends.kql import KqlGenerator, project_stage

    printer = KqlGenerator()
    lines: list[str] = []

    def describe(node: ir.Node) -> str:
        if isinstance(node, ir.Source):
            return f"Source {node.table}"
        if isinstance(node, ir.Filter):
            label = f" [exclusion: {node.label}]" if node.label else ""
            return f"Filter {printer.expr(node.predicate)}{label}"
        if isinstance(node, ir.Project):
            return "Project (" + project_stage(node)[2:] + ")"
        if isinstance(node, ir.Join):
            keys = ", ".join(f"$left.{a} == $right.{b}" for a, b in node.keys)
            implied = "" if node.kind_explicit else " (default kind)"
            return f"Join kind={node.kind}{implied} on {keys}"
        if isinstance(node, ir.Sort):
            return "Sort by " + ", ".join(printer.sort_key(k) for k in node.keys)
        if isinstance(node, ir.Limit):
            return f"Limit {node.count}"
        if isinstance(node, ir.Distinct):
            return "Distinct " + ", ".join(node.names)
        if isinstance(node, ir.Aggregate):
            return "Aggregate " + printer.tabular_Aggregate(node)[-1][len("| summarize "):]
        raise TypeError(type(node).__name__)

    def visit(node: ir.Node, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{describe(node)}")
        lines.append(f"{pad}  -> {len(node.columns)} columns: " + ", ".join(str(c) for c in node.columns))
        for child in ir.children(node):
            visit(child, depth + 1)

    visit(node, 0)
    return "\n".join(lines)


def columns_table(columns: tuple[ir.Column, ...]) -> str:
    width = max((len(c.name) for c in columns), default=0)
    return "\n".join(f"  {i:>3}  {c.name.ljust(width)}  {c.type}" for i, c in enumerate(columns, start=1))
