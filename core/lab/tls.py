"""A lab certificate authority and server certificates, made with ``cryptography``.

Every TLS service of the lab (the WinRM endpoints over HTTPS, a Samba DC's
LDAPS, ...) gets a certificate signed by one lab CA, so that clients check
certificates for real: they trust the CA file and nothing else.

    ca = make_ca(tmp_dir)                              # writes ca.pem, ca.key
    cert = make_server_cert(ca, names=["exch1.lab.example", "127.0.0.5"])
    cert.cert_path, cert.key_path, cert.ca_path         # PEM files
    cert.ssl_context()                                 # server-side ssl.SSLContext

Names that parse as IP addresses become IP subjectAltNames, the others DNS
names; the first name is also the subject CN. Keys are ECDSA P-256 (fast to
make; every client in use here accepts them). The CA key is written with mode
0600: it is a lab secret, but a secret all the same.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates are valid from a day ago (clock skew) for this long.
VALIDITY = datetime.timedelta(days=3650)


@attrs.frozen
class CertificateAuthority:
    """The lab CA: its certificate and key, in memory and as PEM files in ``directory``."""

    directory: Path
    cert_path: Path
    key_path: Path
    certificate: x509.Certificate = attrs.field(repr=False)
    private_key: ec.EllipticCurvePrivateKey = attrs.field(repr=False)


@attrs.frozen
class ServerCertificate:
    """A server certificate signed by the lab CA (PEM files), for the names it was made for."""

    names: tuple[str, ...]
    cert_path: Path
    key_path: Path
    #: The CA certificate clients must trust to accept this one.
    ca_path: Path
    certificate: x509.Certificate = attrs.field(repr=False)

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate (TLS 1.2 or newer)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        return context


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(directory: str | os.PathLike[str], common_name: str = "qrdr lab CA") -> CertificateAuthority:
    """Make a new CA and write ``ca.pem`` and ``ca.key`` into ``directory`` (created if missing)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "ca.pem"
    key_path = directory / "ca.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    return CertificateAuthority(directory, cert_path, key_path, certificate, key)


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_server_cert(
    ca: CertificateAuthority,
    names: list[str] | tuple[str, ...],
    directory: str | os.PathLike[str] | None = None,
) -> ServerCertificate:
    """Make a server certificate for ``names`` (host names and/or IP addresses), signed by ``ca``.

    Writes ``<first name>.pem`` and ``<first name>.key`` into ``directory``
    (default: the CA's directory).
    """
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"make_server_cert: names must be non-empty strings, got {names!r}")
    directory = Path(directory) if directory is not None else ca.directory
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()), critical=False
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", names[0])
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    return ServerCertificate(names, cert_path, key_path, ca.cert_path, certificate)
