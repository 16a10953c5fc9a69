"""Engine tests here are timed into the table tests/agent/backends/conftest.py prints."""

from tests.agent.backends.conftest import pytest_runtest_makereport

__all__ = ["pytest_runtest_makereport"]
