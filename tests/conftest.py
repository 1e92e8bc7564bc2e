"""Shared fixtures: `kusto` runs Microsoft's KQL parser in one Node process for the session."""

from kustocheck import kusto  # noqa: F401  (a pytest fixture)
