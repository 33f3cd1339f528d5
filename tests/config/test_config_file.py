"""What the loaded model guarantees beyond the corpus: the base DN is built escaped."""

from __future__ import annotations

import pytest

from qrdr.model import Domain, SecretRef


def test_the_base_dn_escapes_each_label():
    def domain(dns_name: str) -> Domain:
        return Domain(dns_name=dns_name, netbios_name="QRDR", controllers=(), bind_user="u",
                      bind_password=SecretRef(env="X"))

    assert domain("contoso.local").base_dn == "DC=contoso,DC=local"
    assert domain("qrdr.lab,CN=evil").base_dn == "DC=qrdr,DC=lab\\,CN\\=evil"
    assert domain("a+b.c").base_dn == "DC=a\\+b,DC=c"
    with pytest.raises(ValueError):
        domain("contoso..local").base_dn
