"""The admin HTTP server over TLS (http_ssl_cert, http_ssl_key): the API with Basic credentials
and /metrics answer over HTTPS only, and a real Prometheus scrapes over HTTPS with tls_config."""
from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import free_port, wait_for_port
from tls_certs import make_tls_files


@pytest.fixture
def https_proxy(swiftpool, tmp_path):
    certs = make_tls_files(tmp_path / "certs")
    proxy = swiftpool({"http_ssl_cert": str(certs.server_cert), "http_ssl_key": str(certs.server_key)})
    return proxy, certs


def test_metrics_and_api_over_https_only(https_proxy):
    proxy, certs = https_proxy
    url = f"https://localhost:{proxy.http_port}"
    metrics = requests.get(f"{url}/metrics", verify=str(certs.ca_cert), timeout=10)
    assert metrics.status_code == 200
    assert "swiftpool_client_tls_handshakes_total" in metrics.text
    # The admin API still wants its credentials, now sent encrypted.
    assert requests.get(f"{url}/api/v1/nodes", verify=str(certs.ca_cert), timeout=10).status_code == 401
    # A client that does not trust the CA is refused by its own TLS check.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{url}/metrics", verify=str(certs.other_ca_cert), timeout=10)
    # Plain HTTP gets no page.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://localhost:{proxy.http_port}/metrics", timeout=10)


def test_prometheus_scrapes_over_https(https_proxy, tmp_path):
    assert shutil.which("prometheus"), "prometheus is missing (Debian's prometheus package)"
    proxy, certs = https_proxy
    prometheus_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: swiftpool
    scheme: https
    tls_config:
      ca_file: {certs.ca_cert}
      server_name: localhost
    static_configs:
      - targets: ['127.0.0.1:{proxy.http_port}']
""")
    log = tmp_path / "prometheus.log"
    server = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    try:
        wait_for_port(prometheus_port, timeout=30, proc=server, log_path=log)
        query = urllib.parse.urlencode({"query": 'up{job="swiftpool"}'})
        deadline = time.monotonic() + 60
        while True:
            reply = requests.get(f"http://127.0.0.1:{prometheus_port}/api/v1/query?{query}", timeout=5)
            # While it starts, Prometheus answers its API with a plain-text 503.
            answer = reply.json() if reply.status_code == 200 else {"data": {"result": []}, "status": reply.text}
            results = answer["data"]["result"]
            if results and results[0]["value"][1] == "1":
                break
            assert time.monotonic() < deadline, f"Prometheus did not scrape over HTTPS: {answer}\n{log.read_text()}"
            time.sleep(0.5)
        targets = requests.get(f"http://127.0.0.1:{prometheus_port}/api/v1/targets", timeout=5).json()
        active = [t for t in targets["data"]["activeTargets"] if t["labels"].get("job") == "swiftpool"]
        assert active and active[0]["scrapeUrl"].startswith("https://"), active
    finally:
        server.terminate()
        server.wait(10)


def test_reload_replaces_the_certificate_without_closing_the_port(https_proxy, tmp_path):
    """A renewed certificate is served after a reload; requests keep being answered throughout
    (the listening socket passes from the old daemon to the new one)."""
    import socket
    import ssl
    import threading
    from tls_certs import make_signed
    proxy, certs = https_proxy
    url = f"https://localhost:{proxy.http_port}/metrics"

    def served_certificate() -> bytes:
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        with socket.create_connection(("127.0.0.1", proxy.http_port), timeout=10) as sock:
            with context.wrap_socket(sock, server_hostname="localhost") as tls:
                return tls.getpeercert(binary_form=True)

    first = served_certificate()
    renewed_cert, renewed_key = make_signed(tmp_path, "http-renewed", "localhost",
                                            (certs.ca_cert, certs.ca_cert.with_suffix(".key")), san="DNS:localhost")
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def scrape() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                reply = requests.get(url, verify=str(certs.ca_cert), timeout=10)
                if reply.status_code == 200:
                    answered += 1
                else:
                    failures.append(f"status {reply.status_code}")
            except requests.RequestException as error:
                failures.append(str(error))

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        with open(proxy.conf_path, "a") as conf:
            conf.write(f"http_ssl_cert = '{renewed_cert}'\nhttp_ssl_key = '{renewed_key}'\n")
        proxy.reload()
        deadline = time.monotonic() + 15
        while served_certificate() == first:
            assert time.monotonic() < deadline, f"the renewed certificate was not served:\n{proxy.log()[-2000:]}"
            time.sleep(0.2)
        assert served_certificate() == ssl.PEM_cert_to_DER_cert(renewed_cert.read_text())
        time.sleep(0.5)
    finally:
        stop.set()
        scraper.join(30)
    assert answered > 0
    assert failures == [], failures[:5]
