"""Certificates made by the test: a CA, a server certificate for 127.0.0.1/localhost, a client certificate."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, issuer: x509.Name, issuer_key, key, *, ca: bool, usage=None, names=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, certificate: x509.Certificate, key) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def make_certificates(directory: Path) -> Certificates:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue("spanmeter test CA", _name("spanmeter test CA"), ca_key, ca_key, ca=True)
    ca_path, _ = _write(directory, "ca", ca_cert, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = (x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"))
    server = _issue("127.0.0.1", ca_cert.subject, ca_key, server_key, ca=False,
                    usage=ExtendedKeyUsageOID.SERVER_AUTH, names=names)  # fmt: skip
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue("spanmeter test client", ca_cert.subject, ca_key, client_key, ca=False,
                    usage=ExtendedKeyUsageOID.CLIENT_AUTH)  # fmt: skip
    server_cert, server_key_path = _write(directory, "server", server, server_key)
    client_cert, client_key_path = _write(directory, "client", client, client_key)
    return Certificates(ca_path, server_cert, server_key_path, client_cert, client_key_path)
