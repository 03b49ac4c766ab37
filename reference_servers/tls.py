"""Loopback TLS: a private CA and a server certificate, generated on first use.

Everything lives under ``<data_dir>/tls/``::

    ca.pem  ca.key          the loopback certificate authority (key mode 0600)
    server.pem server.key   the server certificate for the requested host names

The CA is kept as long as it is valid, so a client that trusts ``ca.pem`` keeps
working across restarts; the server certificate is reissued when it is missing,
near expiry, for other host names, not issued by the current CA, or not matching
its key.  A lock file serialises concurrent callers (several servers or test
workers starting at once) so nobody loads a half-written pair.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTNAMES: tuple[str, ...] = ("localhost", "127.0.0.1")

_CA_DAYS = 3650
_SERVER_DAYS = 825
# Reissue this long before expiry, so a long test run never crosses it.
_RENEW_MARGIN = dt.timedelta(days=7)
# Tolerate a little clock skew between generating and using a certificate.
_BACKDATE = dt.timedelta(hours=1)

# TLS 1.2 suites: forward secrecy and AEAD only.  TLS 1.3 suites are fixed by OpenSSL.
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"


@dataclass(frozen=True)
class CertificatePaths:
    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class _Pem:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tls_dir(data_dir: str | os.PathLike[str]) -> Path:
    path = Path(data_dir) / "tls"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(tls_dir: Path) -> Iterator[None]:
    fd = os.open(tls_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask; this is not
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _normalise_hostnames(hostnames: Sequence[str]) -> tuple[str, ...]:
    if isinstance(hostnames, str):
        raise TypeError("hostnames must be a sequence of names, not one string")
    out: list[str] = []
    for name in hostnames:
        clean = name.strip().lower().rstrip(".")
        if not clean:
            raise ValueError("empty host name")
        clean = _canonical_name(clean)
        if clean not in out:
            out.append(clean)
    if not out:
        raise ValueError("at least one host name is needed")
    return tuple(out)


def _canonical_name(name: str) -> str:
    # Canonical forms, so that "0:0::1" and "::1" (or an IDN and its A-label)
    # compare equal to what is read back from the certificate and do not force a
    # reissue on every start.
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid host name {name!r}") from exc


def _general_names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def _san_set(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return dns | ips


def _load(cert_path: Path, key_path: Path) -> _Pem | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if key.public_key() != cert.public_key():
        return None
    if key_path.stat().st_mode & 0o777 != 0o600:
        os.chmod(key_path, 0o600)
    return _Pem(cert, key)


def _fresh(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - _RENEW_MARGIN > now


def _save(pem: _Pem, cert_path: Path, key_path: Path) -> None:
    key_bytes = pem.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Key first: a reader holding the lock never sees a certificate without its key,
    # and _load() rejects a cert/key pair that do not match.
    _write_atomic(key_path, key_bytes, 0o600)
    _write_atomic(cert_path, pem.cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _new_ca() -> _Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailharness"),
            x509.NameAttribute(NameOID.COMMON_NAME, "mailharness loopback CA"),
        ]
    )
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Pem(cert, key)


def _new_server(ca: _Pem, hostnames: Sequence[str]) -> _Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    public = key.public_key()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        # RFC 6125 §6.4.4: clients match the host name against subjectAltName
        # only, so every name goes there.
        .add_extension(x509.SubjectAlternativeName(_general_names(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return _Pem(cert, key)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _paths(tls_dir: Path) -> CertificatePaths:
    return CertificatePaths(
        ca_cert=tls_dir / "ca.pem", cert=tls_dir / "server.pem", key=tls_dir / "server.key"
    )


def _ensure_ca(tls_dir: Path) -> _Pem:
    cert_path, key_path = tls_dir / "ca.pem", tls_dir / "ca.key"
    ca = _load(cert_path, key_path)
    if ca is None or not _fresh(ca.cert):
        ca = _new_ca()
        _save(ca, cert_path, key_path)
    return ca


def _ensure_locked(tls_dir: Path, hostnames: tuple[str, ...]) -> CertificatePaths:
    paths = _paths(tls_dir)
    ca = _ensure_ca(tls_dir)
    server = _load(paths.cert, paths.key)
    if (
        server is None
        or not _fresh(server.cert)
        or _san_set(server.cert) != set(hostnames)
        or not _issued_by(server.cert, ca.cert)
    ):
        _save(_new_server(ca, hostnames), paths.cert, paths.key)
    return paths


def ensure_certificates(
    data_dir: str | os.PathLike[str], hostnames: Sequence[str] = DEFAULT_HOSTNAMES
) -> CertificatePaths:
    """The CA and server certificate under ``<data_dir>/tls/``, created if needed."""
    names = _normalise_hostnames(hostnames)
    tls_dir = _tls_dir(data_dir)
    with _locked(tls_dir):
        return _ensure_locked(tls_dir, names)


def server_context(
    data_dir: str | os.PathLike[str], hostnames: Sequence[str] = DEFAULT_HOSTNAMES
) -> ssl.SSLContext:
    """A server context for STARTTLS and implicit TLS: TLS 1.2+, ECDHE + AEAD."""
    names = _normalise_hostnames(hostnames)
    tls_dir = _tls_dir(data_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(_TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    # Loaded under the lock so a concurrent reissue cannot hand us a new
    # certificate with the old key.
    with _locked(tls_dir):
        paths = _ensure_locked(tls_dir, names)
        ctx.load_cert_chain(paths.cert, paths.key)
    return ctx


def client_context(data_dir: str | os.PathLike[str]) -> ssl.SSLContext:
    """A client context that trusts only the loopback CA, with host name checks."""
    tls_dir = _tls_dir(data_dir)
    with _locked(tls_dir):
        _ensure_ca(tls_dir)
        ca_pem = (tls_dir / "ca.pem").read_text(encoding="ascii")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies and checks host names
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=ca_pem)
    return ctx
