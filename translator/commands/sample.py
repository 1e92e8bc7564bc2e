"""`rulecast sample`: write realistic CloudAppEvents and EmailEvents JSON Lines."""

from translator.sampledata import add_parser  # noqa: F401
