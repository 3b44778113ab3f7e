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


# ---- the stores the live server is tested on (tests/test_server*.py) -----------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the session (tests/pg.py); fails when PostgreSQL is
    not installed."""
    from pg import Cluster

    try:
        cluster = Cluster()
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """A fresh, empty store's URL: a SQLite file, or a new database of the test cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ldes.db"
    return request.getfixturevalue("pg_cluster").database()
