"""pytest plugin for plugin authors: fixtures that start the lab's hosts and directory.

Registered as the ``qrdr_lab`` entry point in the ``pytest11`` group.
"""
