"""The service serves HTTPS itself with IVR_TLS_CERT_FILE/IVR_TLS_KEY_FILE (no proxy needed)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port, service_env


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ivr test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_service_serves_https_verified_against_its_certificate(
    redis_url: str, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    # The start_service fixture waits on plain-HTTP /healthz, which TLS never answers: this
    # starts the same command and waits on HTTPS instead.
    context = ssl.create_default_context(cafile=str(cert))
    process = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve"],
        env=service_env(
            IVR_HOST="127.0.0.1",
            IVR_PORT=str(port),
            IVR_AUDIOSOCKET_PORT="0",
            IVR_REDIS_URL=redis_url,
            IVR_TLS_CERT_FILE=str(cert),
            IVR_TLS_KEY_FILE=str(key),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        body = b""
        deadline = time.monotonic() + 60
        while not body and time.monotonic() < deadline:
            assert process.poll() is None, "ivr serve exited with TLS settings"
            try:
                url = f"https://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    body = response.read()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert b'"ok"' in body
        with pytest.raises(OSError):  # a plain-HTTP client gets no answer
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_certificate_without_key_stops_startup_naming_both_variables(
    tmp_path: Path,
) -> None:
    cert, _ = self_signed(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "ivr", "serve"],
        env=service_env(IVR_PORT=str(free_port()), IVR_TLS_CERT_FILE=str(cert)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "IVR_TLS_CERT_FILE and IVR_TLS_KEY_FILE" in result.stderr
