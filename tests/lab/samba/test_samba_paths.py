"""A lab directory too long for Samba's Unix sockets is refused before Samba runs, naming the limit."""

from __future__ import annotations

import pytest

from qrdr.lab.samba import MAX_SOCKET_PATH, SambaDC, SambaError


def test_a_directory_too_long_for_samba_sockets_is_refused_with_the_limit(tmp_path):
    workdir = tmp_path / ("d" * (MAX_SOCKET_PATH - len(str(tmp_path))))
    with pytest.raises(SambaError) as refused:
        SambaDC.provision(workdir, admin_password="Lab-Passw0rd!1")
    message = str(refused.value)
    assert "too long for Samba's sockets" in message and f"at most {MAX_SOCKET_PATH}" in message
    assert str(workdir) in message and not workdir.exists()
