"""Loopback certificates: generated once, reused, reissued when stale, and good
enough for a real, verified TLS handshake over a loopback socket."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from reference_servers import tls
from reference_servers.tls import (
    CertificatePaths,
    client_context,
    ensure_certificates,
    server_context,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {n.lower() for n in san.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def _snapshot(paths: CertificatePaths) -> dict[str, bytes]:
    ca_key = paths.ca_cert.with_name("ca.key")
    return {p.name: p.read_bytes() for p in (paths.ca_cert, ca_key, paths.cert, paths.key)}


def test_generated_files_and_modes(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    assert paths == CertificatePaths(
        tmp_path / "tls" / "ca.pem",
        tmp_path / "tls" / "server.pem",
        tmp_path / "tls" / "server.key",
    )
    assert _mode(tmp_path / "tls") == 0o700
    assert _mode(paths.key) == 0o600
    assert _mode(paths.ca_cert.with_name("ca.key")) == 0o600
    assert _sans(paths.cert) == {"localhost", "127.0.0.1"}
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_second_call_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ensure_certificates(tmp_path)
    before = _snapshot(first)

    def no_generation(*_: object) -> None:
        raise AssertionError("regenerated a valid certificate")

    monkeypatch.setattr(tls, "_new_ca", no_generation)
    monkeypatch.setattr(tls, "_new_server", no_generation)
    assert ensure_certificates(tmp_path, ["LOCALHOST", "127.0.0.1", "localhost."]) == first
    server_context(tmp_path)
    client_context(tmp_path)
    assert _snapshot(first) == before


def test_other_hostnames_reissue_server_only(tmp_path: Path) -> None:
    first = _snapshot(ensure_certificates(tmp_path))
    paths = ensure_certificates(tmp_path, ["mail.example.test", "::1"])
    assert _sans(paths.cert) == {"mail.example.test", "::1"}
    after = _snapshot(paths)
    assert after["ca.pem"] == first["ca.pem"] and after["ca.key"] == first["ca.key"]
    assert after["server.pem"] != first["server.pem"]
    assert after["server.key"] != first["server.key"]


def test_missing_or_corrupt_files_are_regenerated(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    first = _snapshot(paths)
    paths.key.unlink()
    assert _snapshot(ensure_certificates(tmp_path))["server.key"] != first["server.key"]
    # A new CA invalidates the server certificate it did not issue.
    paths.ca_cert.write_bytes(b"garbage")
    after = _snapshot(ensure_certificates(tmp_path))
    assert after["ca.pem"] != first["ca.pem"]
    ca = x509.load_pem_x509_certificate(after["ca.pem"])
    x509.load_pem_x509_certificate(after["server.pem"]).verify_directly_issued_by(ca)


def test_near_expiry_reissues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _snapshot(ensure_certificates(tmp_path))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=820)  # within the renewal margin
    monkeypatch.setattr(tls, "_now", lambda: later)
    after = _snapshot(ensure_certificates(tmp_path))
    assert after["server.pem"] != first["server.pem"]
    assert after["ca.pem"] == first["ca.pem"]  # the CA lasts ten years


def test_equivalent_names_do_not_reissue(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path, ["0:0::1", "bücher.example"])
    assert _sans(paths.cert) == {"::1", "xn--bcher-kva.example"}
    before = _snapshot(paths)
    ensure_certificates(tmp_path, ["::1", "xn--bcher-kva.example"])
    assert _snapshot(paths) == before


def test_loose_key_mode_is_tightened(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    os.chmod(paths.key, 0o644)
    ensure_certificates(tmp_path)
    assert _mode(paths.key) == 0o600


def test_concurrent_first_use(tmp_path: Path) -> None:
    results: list[CertificatePaths] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(ensure_certificates(tmp_path))
            server_context(tmp_path)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(results) == 6 and len(set(results)) == 1
    assert not [p for p in (tmp_path / "tls").iterdir() if p.name.endswith(".tmp")]


def test_bad_hostnames(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_certificates(tmp_path, [])
    with pytest.raises(ValueError):
        ensure_certificates(tmp_path, ["localhost", " "])
    with pytest.raises(TypeError):
        ensure_certificates(tmp_path, "localhost")


def test_context_settings(tmp_path: Path) -> None:
    server = server_context(tmp_path)
    client = client_context(tmp_path)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    tls12 = [c for c in server.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)


# -- real handshakes over loopback ----------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, list[BaseException]]]:
    """A loopback TLS echo server (one connection at a time) on an ephemeral port."""
    ctx = server_context(tmp_path)
    listener = socket.create_server(("127.0.0.1", 0))
    # A short accept timeout lets the thread notice `stop`: closing a listening
    # socket does not wake a thread blocked in accept() on Linux.
    listener.settimeout(0.1)
    errors: list[BaseException] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(10)
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(conn.recv(100))
            except (ssl.SSLError, OSError) as exc:
                errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], errors
    stop.set()
    listener.close()
    thread.join(timeout=10)


def _client_roundtrip(ctx: ssl.SSLContext, port: int, server_hostname: str) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = ctx.wrap_socket(raw, server_hostname=server_hostname)
    conn.sendall(b"EHLO\r\n")
    assert conn.recv(100) == b"EHLO\r\n"
    return conn


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_handshake_verifies(
    tmp_path: Path, tls_server: tuple[int, list[BaseException]], hostname: str
) -> None:
    port, errors = tls_server
    with _client_roundtrip(client_context(tmp_path), port, hostname) as conn:
        assert conn.version() in ("TLSv1.2", "TLSv1.3")
        peer = conn.getpeercert()
        assert ("DNS", "localhost") in peer["subjectAltName"]
    assert not errors


def test_handshake_rejects_wrong_hostname(
    tmp_path: Path, tls_server: tuple[int, list[BaseException]]
) -> None:
    port, _ = tls_server
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        _client_roundtrip(client_context(tmp_path), port, "mail.example.test")


def test_handshake_needs_the_loopback_ca(
    tmp_path: Path, tls_server: tuple[int, list[BaseException]]
) -> None:
    port, _ = tls_server
    other = tmp_path / "other"
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _client_roundtrip(client_context(other), port, "localhost")


def test_handshake_tls12(tmp_path: Path, tls_server: tuple[int, list[BaseException]]) -> None:
    port, errors = tls_server
    ctx = client_context(tmp_path)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with _client_roundtrip(ctx, port, "localhost") as conn:
        assert conn.version() == "TLSv1.2"
        cipher = conn.cipher()
        assert cipher is not None and "ECDHE" in cipher[0]
    assert not errors
