"""Debian tools some tests drive (poppler's pdftotext, Chromium…): a test that needs one skips,
naming the package to install — except in CI (``CI=true``), where a missing tool is a failure,
since CI must really run those tests (``.ci/run`` installs them)."""

from __future__ import annotations

import shutil

import pytest

from tests.backends import IN_CI

POPPLER = ("poppler-utils", ("pdftotext", "pdfinfo", "pdftoppm"))
"""The package that reads the briefings' PDFs, and its commands."""


def need(package: str, commands: tuple[str, ...]) -> None:
    """Skip the calling test unless every one of ``commands`` is on the PATH (fail in CI)."""
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not found: apt-get install {package}"
    if IN_CI:
        pytest.fail(f"CI needs {package}: {reason}")
    pytest.skip(reason)


def need_poppler() -> None:
    """Skip (fail in CI) without poppler-utils."""
    need(*POPPLER)
