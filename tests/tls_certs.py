"""Real certificates for the TLS tests, made with the ``cryptography`` package.

``make_pki(dir)`` writes a CA, a server certificate for 127.0.0.1 and localhost, a client
certificate, an expired server certificate, and a second, unrelated CA with its own server
and client certificates (the "wrong CA" cases). Keys are EC P-256: fast to generate."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Pair:
    cert: str
    key: str


@dataclass
class Pki:
    dir: Path
    ca: str  # CA certificate file
    server: Pair
    client: Pair
    expired: Pair  # a server certificate by the same CA, expired yesterday
    other_ca: str  # an unrelated CA
    other_server: Pair  # signed by other_ca
    other_client: Pair  # signed by other_ca

    def server_pair(self, name: str, *, common_name: str) -> Pair:
        """One more server certificate from the CA (the reload tests' replacement)."""
        return _issue(self.dir, name, self._ca_cert, self._ca_key, common_name, server=True)

    _ca_cert: x509.Certificate = None  # type: ignore[assignment]
    _ca_key: ec.EllipticCurvePrivateKey = None  # type: ignore[assignment]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(dir: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pair:
    cert_path, key_path = dir / f"{name}.crt", dir / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Pair(str(cert_path), str(key_path))


def _ca(dir: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = dir / f"{name}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, str(path)


def _issue(dir: Path, name: str, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cn: str, *,
           server: bool, expired: bool = False) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else (now - dt.timedelta(hours=1), now + dt.timedelta(days=30))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return _write(dir, name, builder.sign(ca_key, hashes.SHA256()), key)


def make_pki(dir: Path) -> Pki:
    dir.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key, ca = _ca(dir, "ca")
    other_cert, other_key, other_ca = _ca(dir, "other-ca")
    pki = Pki(
        dir=dir,
        ca=ca,
        server=_issue(dir, "server", ca_cert, ca_key, "spyglass-server", server=True),
        client=_issue(dir, "client", ca_cert, ca_key, "spyglass-client", server=False),
        expired=_issue(dir, "expired", ca_cert, ca_key, "spyglass-expired", server=True, expired=True),
        other_ca=other_ca,
        other_server=_issue(dir, "other-server", other_cert, other_key, "other-server", server=True),
        other_client=_issue(dir, "other-client", other_cert, other_key, "other-client", server=False),
    )
    pki._ca_cert, pki._ca_key = ca_cert, ca_key
    return pki


def subject_cn(pem: bytes) -> str:
    """The common name of a PEM or DER certificate (what a reload test compares)."""
    cert = x509.load_pem_x509_certificate(pem) if pem.startswith(b"-----") else x509.load_der_x509_certificate(pem)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value  # type: ignore[return-value]
