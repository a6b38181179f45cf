"""Shared pytest fixtures.

Tests that need real data use the ``data_dir`` fixture. It returns the folder named by the
``LCNN_DATA_DIR`` environment variable and skips the test when that variable is unset or the folder
does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Return the real-data folder from ``LCNN_DATA_DIR``, or skip the test."""
    value = os.environ.get("LCNN_DATA_DIR")
    if not value:
        pytest.skip("LCNN_DATA_DIR is not set; point it at the folder with the real datasets")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"LCNN_DATA_DIR={value} is not a folder")
    return path
