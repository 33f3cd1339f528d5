"""Fixtures of the remoting tests: a capture of qrdr's log lines."""

import pytest
from loguru import logger


@pytest.fixture
def qrdr_log():
    """Every line qrdr logs during the test (the library's logger is enabled for the test only)."""
    lines: list[str] = []
    logger.enable("qrdr")
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)
    logger.disable("qrdr")
