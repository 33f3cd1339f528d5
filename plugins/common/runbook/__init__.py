"""The runbook, one module per section, each a list of step builders in the runbook's order.

A builder is a top-level function ``builder(book, site) -> Step`` whose docstring quotes its
runbook step and says how the step checks, applies and verifies, and in which files that code
is (in the manner of pyinfra's operations). :mod:`.base` holds what they share.
:class:`~qrdr.plugins.common.exchange_plugin.ExchangeRunbook` maps each hook to its module.
"""
