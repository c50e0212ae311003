"""Test certificates made with the openssl CLI: a CA, a server certificate for ``localhost``
signed by it, and a CA that signed nothing SwiftPool presents (for the "wrong CA" cases)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=directory)
    return cert, key


def make_signed(directory: Path, name: str, common_name: str, ca: tuple[Path, Path],
                san: str | None = None, days: int = 30) -> tuple[Path, Path]:
    """A certificate for ``common_name`` signed by ``ca``; its key is mode 0600."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={common_name}", cwd=directory)
    ext = directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-out", str(cert), "-days", str(days), "-extfile", str(ext), cwd=directory)
    os.chmod(key, 0o600)
    return cert, key


def make_tls_files(directory: Path) -> TLSFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory, "test-ca")
    other = make_ca(directory, "other-ca")
    # Only the name "localhost": a client that verifies 127.0.0.1 sees a wrong host name.
    server = make_signed(directory, "server", "localhost", ca, san="DNS:localhost")
    return TLSFiles(ca_cert=ca[0], server_cert=server[0], server_key=server[1], other_ca_cert=other[0])
