"""Fixtures the indexer's test modules share."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A throwaway local Ray instance for one test module (skipped where Ray is not installed)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", "disabled")  # no token written under ~/.ray for a throwaway instance
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, logging_level=logging.WARNING)
        try:
            yield ray
        finally:
            ray.shutdown()
