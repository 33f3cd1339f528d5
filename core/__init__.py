"""qrdr: plans, runs, checks and proves the Quick Recovery standby Exchange runbook.

The library leaves its loguru logger disabled; the CLI enables it. Embedders
call ``loguru.logger.enable("qrdr")`` to see its log.
"""

from loguru import logger as _logger

__version__ = "0.1.0"

_logger.disable("qrdr")
