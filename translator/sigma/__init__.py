"""Sigma support: read Sigma rules with pySigma and compile them to every target.

`rules` loads Sigma files and compiles one document for one target,
`convert` translates detection trees into IR, `mapping` reads the per-target
log source and field mappings in `backends/sigma/`, `correlation` compiles
correlation rules, and `importer` writes rulecast rule files.
"""
