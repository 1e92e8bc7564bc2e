"""Shared fixtures: `kusto` runs Microsoft's KQL parser in one Node process for the session."""

from kustocheck import kusto  # noqa: F401  (a pytest fixture)

from hypothesis import settings

# `pytest --hypothesis-profile=long`: 10,000 cases per property (the default profile runs 100).
settings.register_profile("long", max_examples=10_000, deadline=None)
