"""Shared test configuration: hypothesis profiles sized for a 2-core CI machine."""

import importlib
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# `make test` installs every extra and sets SKETCHKIT_TEST_ALL_EXTRAS=1: there a test module that
# would skip for a missing optional package fails instead, so a broken install or a module that
# no longer imports cannot silently shrink the suite.
if os.environ.get("SKETCHKIT_TEST_ALL_EXTRAS") == "1":

    def _import_or_fail(modname: str, minversion: str | None = None, reason: str | None = None, **_):
        return importlib.import_module(modname)

    pytest.importorskip = _import_or_fail
