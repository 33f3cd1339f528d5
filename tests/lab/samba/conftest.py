"""The Samba DC tests use the lab's own fixtures (the lab's pytest plugin will expose them too)."""

from qrdr.lab.samba_fixtures import samba_dc, samba_dc_pair  # noqa: F401
