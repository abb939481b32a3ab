"""A self-signed certificate for 127.0.0.1, made in the test: TLS servers for tests.

cert = self_signed_certificate(tmp_path)
with serve_folder(folder, tls=cert.server_context()) as server:
    ...  # server.url is https://127.0.0.1:<port>; clients fail to verify it
         # unless told to trust cert.cert_path (REQUESTS_CA_BUNDLE, SSL_CERT_FILE)
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import ssl


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A PEM certificate and its private key on disk."""

    cert_path: str
    key_path: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def self_signed_certificate(folder: str | os.PathLike, days: int = 2) -> Certificate:
    """A fresh self-signed certificate valid for IP 127.0.0.1 and `localhost`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test host 127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return Certificate(cert_path, key_path)
