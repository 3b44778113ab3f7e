"""Shared test settings: hypothesis profiles (never a deadline; CI runs more examples, from a
fixed seed, so that a CI run's result depends only on the commit, never on the draw)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")
