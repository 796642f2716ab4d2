"""deploy/nginx/meldpunt.conf and deploy/Caddyfile in front of `meldpunt serve`, over https.

Debian's nginx and Caddy run the repository's own files (paths and ports swapped for
temporary ones), in turn before one Meldpunt, with a certificate from a throw-away CA; the
client trusts that CA only.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sectxt  # type: ignore[import-untyped]  # ships no type hints
from cryptography.hazmat.primitives import serialization
from requests.adapters import HTTPAdapter

from tests.mailservers import free_port, make_ca, make_server_cert
from tests.test_commands import MELDPUNT, operator_env, run

# One worker runs the whole module: its fronts and `meldpunt serve` start once.
pytestmark = [pytest.mark.own_instance, pytest.mark.xdist_group("tls_front")]

NGINX = "/usr/sbin/nginx"
CADDY = "/usr/bin/caddy"
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "meldpunt.conf"
CADDYFILE = DEPLOY / "Caddyfile"
FORWARDED_FOR = "203.0.113.77"
# Each front's client connects from an address of its own: no server on the path uses it,
# so finding it in a log can only mean the log names the client; and the fronts' rate-limit
# counts (Meldpunt's, per client) stay apart.
CLIENT = {"nginx": "127.0.0.2", "caddy": "127.0.0.3", "nginx-static": "127.0.0.6"}
# The rate-limit test's client, so the limit it reaches holds up no other test.
GUESSER = {"nginx": "127.0.0.4", "caddy": "127.0.0.5", "nginx-static": "127.0.0.7"}
STAFF_LOGIN_LIMIT = 3  # attempts per client (a low MELDPUNT_STAFF_LOGIN_LIMIT: each costs Argon2)
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
RECEIPT_RE = re.compile(r'id="receipt-code"[^>]*>([0-9A-Z-]+)<')

# The wrapper is what /etc/nginx/nginx.conf is on a server: it includes the site file.
MAIN_CONF = """\
{user}
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;  # as Debian's nginx.conf does (static files need it)
    default_type application/octet-stream;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    include {run}/meldpunt.conf;
}}
"""


@dataclass
class App:
    """`meldpunt serve` with a data directory of its own, and where its front must listen."""

    base: str  # https://127.0.0.1:PORT
    http_port: int
    https_port: int
    app_port: int
    run_dir: Path
    ca: Path


@dataclass
class Front:
    kind: str  # nginx, nginx-static (its optional static-files block on) or caddy
    base: str
    http_port: int
    https_port: int
    app_port: int
    ca: Path
    logs: list[Path]  # the front's log directory and Meldpunt's


def render(text: str, substitutions: list[tuple[str, str]]) -> str:
    """A file of deploy/ with this test's paths and ports; each replaced text must be there."""
    for old, new in substitutions:
        assert old in text, f"deploy/ no longer has {old!r}"
        text = text.replace(old, new)
    # Every place that names the site was swapped: a new one needs a substitution here.
    settings = [ln for ln in text.splitlines() if not ln.strip().startswith("#")]
    assert not [ln for ln in settings if "example.org" in ln], settings
    return text


STATIC_BLOCK = re.compile(r"^    # location /static/ \{\n(?:    # .*\n)*?    # \}\n", re.MULTILINE)


def render_nginx(app: App, logs: Path, static: bool) -> str:
    run_dir = app.run_dir
    text = NGINX_SITE.read_text()
    if static:  # the optional block, uncommented as the docs say
        (block,) = STATIC_BLOCK.findall(text)
        text = text.replace(block, block.replace("    # ", "    "))
        text = text.replace("alias /var/lib/meldpunt/static/;", f"alias {run_dir}/data/static/;")
    return render(
        text,
        [
            ("listen [::]:443 ssl http2;", ""),  # loopback IPv4 is enough (CI may lack IPv6)
            ("listen [::]:80;", ""),
            ("listen 443 ssl", f"listen 127.0.0.1:{app.https_port} ssl"),
            ("listen 80;", f"listen 127.0.0.1:{app.http_port};"),
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app.app_port};"),
            ("https://security.example.org$request_uri", f"{app.base}$request_uri"),
            ("/etc/letsencrypt/live/security.example.org/fullchain.pem", f"{run_dir}/cert.pem"),
            ("/etc/letsencrypt/live/security.example.org/privkey.pem", f"{run_dir}/key.pem"),
            ("/var/log/nginx/", f"{logs}/"),
            ("/var/www/acme", str(run_dir / "acme")),
            ("server_name security.example.org;", "server_name 127.0.0.1 localhost;"),
        ],
    )


def render_caddy(app: App, logs: Path) -> str:
    run_dir = app.run_dir
    return render(
        CADDYFILE.read_text(),
        [
            (
                "email hostmaster@example.org",
                f"admin off\n\thttp_port {app.http_port}\n\thttps_port {app.https_port}\n"
                f"\tstorage file_system {run_dir}/caddy\n\tskip_install_trust",
            ),
            ("http://security.example.org {", f"http://127.0.0.1:{app.http_port} {{"),
            ("https://security.example.org{uri}", f"{app.base}{{uri}}"),
            ("\nsecurity.example.org {", f"\n{app.base} {{"),
            ("tls {", f"tls {run_dir}/cert.pem {run_dir}/key.pem {{"),
            ("/var/log/caddy/", f"{logs}/"),
            ("reverse_proxy 127.0.0.1:8000", f"reverse_proxy 127.0.0.1:{app.app_port}"),
        ],
    )


def write_certificates(run_dir: Path) -> Path:
    ca, ca_key = make_ca("Meldpunt test CA")
    cert, key = make_server_cert(ca, ca_key)
    (run_dir / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (run_dir / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (run_dir / "key.pem").chmod(0o600)
    ca_file = run_dir / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file


def wait_for(port: int, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} stopped with exit code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} never listened on {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and everything it started (gunicorn's and nginx's workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One Meldpunt for both fronts, which take turns on the same ports (one base URL)."""
    run_dir = tmp_path_factory.mktemp("tls-front")
    (run_dir / "logs").mkdir()
    (run_dir / "acme").mkdir()
    https_port, http_port, app_port = free_port(), free_port(), free_port()
    base = f"https://127.0.0.1:{https_port}"
    env = operator_env(
        run_dir / "data",
        MELDPUNT_BIND=f"127.0.0.1:{app_port}",
        MELDPUNT_BASE_URL=base,
        MELDPUNT_TRUSTED_PROXIES="1",
        MELDPUNT_WORKERS="1",
        MELDPUNT_THREADS="4",
        MELDPUNT_STAFF_LOGIN_LIMIT=str(STAFF_LOGIN_LIMIT),
    )
    init = run(["init"], env)
    assert init.returncode == 0, init.stderr
    ca_file = write_certificates(run_dir)
    out, err = run_dir / "logs" / "meldpunt.stdout", run_dir / "logs" / "meldpunt.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [*MELDPUNT, "serve"], env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    try:
        wait_for(app_port, "meldpunt serve", server)
        yield App(base, http_port, https_port, app_port, run_dir, ca_file)
    finally:
        stop(server)


def start_nginx(app: App, logs: Path, static: bool) -> subprocess.Popen[bytes]:
    (app.run_dir / "meldpunt.conf").write_text(render_nginx(app, logs, static))
    # As root (CI) nginx would hand its workers to "nobody", who may not enter the
    # temporary directory; as anyone else the user directive is ignored with a warning.
    user = "user root root;" if os.geteuid() == 0 else ""
    (app.run_dir / "nginx.conf").write_text(MAIN_CONF.format(user=user, run=app.run_dir))
    command = [
        NGINX,
        *("-p", str(app.run_dir), "-c", str(app.run_dir / "nginx.conf")),
        *("-g", f"daemon off; pid {app.run_dir}/nginx.pid; error_log {logs}/error.log;"),
    ]
    with (logs / "nginx.stderr").open("wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=output, start_new_session=True)


def start_caddy(app: App, logs: Path) -> subprocess.Popen[bytes]:
    (app.run_dir / "Caddyfile").write_text(render_caddy(app, logs))
    command = [CADDY, "run", "--adapter", "caddyfile", "--config", str(app.run_dir / "Caddyfile")]
    # Caddy keeps its state under $HOME and the XDG directories: the test's, not the user's.
    home = {"HOME": str(app.run_dir), "XDG_DATA_HOME": str(app.run_dir / "caddy")}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **home}
    env["XDG_CONFIG_HOME"] = str(app.run_dir / "caddy")
    with (logs / "caddy.stderr").open("wb") as output:
        return subprocess.Popen(
            command, stdout=output, stderr=output, env=env, start_new_session=True
        )


@pytest.fixture(scope="module", params=["nginx", "nginx-static", "caddy"])
def front(request: pytest.FixtureRequest, app: App) -> Iterator[Front]:
    kind = str(request.param)
    binary = CADDY if kind == "caddy" else NGINX
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is missing: bin/setup --dev installs it (Debian's package)")
    logs = app.run_dir / f"{kind}-logs"
    logs.mkdir()
    if kind == "caddy":
        proxy = start_caddy(app, logs)
    else:
        proxy = start_nginx(app, logs, static=kind == "nginx-static")
    try:
        wait_for(app.https_port, kind, proxy)
        yield Front(
            kind,
            app.base,
            app.http_port,
            app.https_port,
            app.app_port,
            app.ca,
            [logs, app.run_dir / "logs"],
        )
    finally:
        stop(proxy)


class FromAddress(HTTPAdapter):
    """Connections from a given local address (requests has no option for it)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session(front: Front, address: str = "") -> requests.Session:
    client = requests.Session()
    client.mount("https://", FromAddress(address or CLIENT[front.kind]))
    client.mount("http://", FromAddress(address or CLIENT[front.kind]))
    # Not from the environment: requests would let REQUESTS_CA_BUNDLE override `verify`,
    # and a proxy setting would send the requests elsewhere.
    client.trust_env = False
    client.verify = str(front.ca)
    # What a browser sends with a form post; the client address nginx must not pass on
    # as given, and that no log may keep.
    client.headers.update({"Origin": front.base, "X-Forwarded-For": FORWARDED_FOR})
    return client


def hidden_fields(page: str) -> dict[str, str]:
    return dict(HIDDEN_RE.findall(page))


def test_it_takes_a_report_and_lets_the_finder_sign_in_over_https(front: Front) -> None:
    client = session(front)
    form = client.get(f"{front.base}/report/", timeout=10)
    assert form.status_code == 200
    data = {
        **hidden_fields(form.text),
        "affected_systems": "https://portal.example.org/login",
        "category": "xss",
        "description": "Reflected XSS in the q parameter.",
        "steps": "Open /search?q=<script>",
        "impact": "Session theft.",
        "exploited": "no",
        "already_public": "no",
        "csirt_notified": "no",
        "credit": "none",
        "accept_policy": "on",
    }
    assert "csrfmiddlewaretoken" in data
    files = {"attachments": ("proof.txt", b"proof of concept\n", "text/plain")}
    receipt = client.post(
        f"{front.base}/report/",
        data=data,
        files=files,
        headers={"Referer": f"{front.base}/report/"},
        timeout=30,
    )
    assert receipt.status_code == 200, receipt.text[:2000]
    code = RECEIPT_RE.search(receipt.text)
    assert code, "no receipt code on the page"

    portal = session(front)
    login = portal.get(f"{front.base}/status/", timeout=10)
    signed_in = portal.post(
        f"{front.base}/status/",
        data={**hidden_fields(login.text), "code": code.group(1)},
        headers={"Referer": f"{front.base}/status/"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 303, signed_in.text[:2000]
    assert signed_in.headers["Location"] == "/status/"
    status = portal.get(f"{front.base}/status/", timeout=10)
    assert status.status_code == 200
    assert "proof.txt" in status.text


def test_it_serves_a_security_txt_the_validator_accepts_by_url(
    front: Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sectxt fetches with requests, which trusts the bundle named here (and only it).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(front.ca))
    checked = sectxt.SecurityTXT(f"{front.base}/")
    assert checked.errors == [], checked.errors
    assert checked.is_valid()
    codes = {r["code"] for r in checked.recommendations}
    assert not codes & {"not_signed", "no_canonical", "no_encryption"}


def test_it_sends_secure_cookies_and_hsts(front: Front) -> None:
    response = session(front).get(f"{front.base}/report/", timeout=10)
    cookies = response.raw.headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0]: c for c in cookies}
    assert "csrftoken" in names, cookies
    for cookie in cookies:
        assert "; Secure" in cookie, cookie
    for name in ("csrftoken", *(n for n in names if n.endswith("session"))):
        assert "; HttpOnly" in names[name], names[name]
        assert "; SameSite=Lax" in names[name], names[name]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert len(response.raw.headers.getlist("Strict-Transport-Security")) == 1
    if front.kind == "caddy":
        return  # Caddy cuts an oversized body while reading it; Meldpunt's check is first
    # nginx's own answers carry HSTS too: here it refuses a body over the limit.
    refused = session(front).post(
        f"{front.base}/report/", headers={"Content-Length": "999999999999"}, timeout=10
    )
    assert refused.status_code == 413
    assert refused.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_it_redirects_plain_http_to_https(front: Front) -> None:
    response = session(front).get(
        f"http://127.0.0.1:{front.http_port}/report/?lang=fr",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 301
    assert response.headers["Location"] == f"{front.base}/report/?lang=fr"


def test_it_counts_attempts_per_client_whatever_x_forwarded_for_says(front: Front) -> None:
    # Meldpunt takes the client's address from the front's X-Forwarded-For; a client that
    # sends one of its own must not get a fresh allowance with every made-up address.
    client = session(front, GUESSER[front.kind])
    login = client.get(f"{front.base}/triage/login/", timeout=10)
    answers = []
    for n in range(1, STAFF_LOGIN_LIMIT + 2):
        answer = client.post(
            f"{front.base}/triage/login/",
            data={
                **hidden_fields(login.text),
                "username": f"nobody{n}@example.org",
                "password": "not the password",
            },
            headers={"X-Forwarded-For": f"198.51.100.{n}", "Referer": f"{front.base}/"},
            timeout=10,
        )
        answers.append(answer.status_code)
    assert answers == [400] * STAFF_LOGIN_LIMIT + [429]


def test_it_serves_static_files_with_the_same_headers(front: Front) -> None:
    page = session(front).get(f"{front.base}/report/", timeout=10).text
    stylesheet = re.search(r'<link rel="stylesheet" href="(/static/[^"]+\.css)"', page)
    assert stylesheet, "no stylesheet on the page"
    meldpunt_log = front.logs[1] / "meldpunt.stdout"
    before = meldpunt_log.read_text().count(stylesheet.group(1))
    response = session(front).get(f"{front.base}{stylesheet.group(1)}", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "immutable" in response.headers["Cache-Control"]
    time.sleep(0.3)
    served_by_meldpunt = meldpunt_log.read_text().count(stylesheet.group(1)) > before
    assert served_by_meldpunt == (front.kind != "nginx-static")


def _handshake(front: Front, version: ssl.TLSVersion) -> str:
    context = ssl.create_default_context(cafile=str(front.ca))
    context.minimum_version = version
    context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        # OpenSSL 3 clients offer TLS 1.1 only at security level 0.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(
            ("127.0.0.1", front.https_port), timeout=10, source_address=(CLIENT[front.kind], 0)
        ) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return str(tls.version())


def test_it_speaks_tls_1_2_and_1_3_only(front: Front) -> None:
    assert _handshake(front, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert _handshake(front, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(front, ssl.TLSVersion.TLSv1_1)
    # The server refused it; the client did offer TLS 1.1.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value), refused.value
    # A client that does not trust the throw-away CA is not fooled either.
    stranger = session(front)
    stranger.verify = True  # the system's CAs only
    with pytest.raises(requests.exceptions.SSLError):
        stranger.get(f"{front.base}/", timeout=10)


def test_it_keeps_client_addresses_out_of_every_log(front: Front) -> None:
    # Requests worth logging: a page, a refused body, a plain-http redirect, a failed
    # handshake (the other tests in this module make more).
    client = session(front)
    assert client.get(f"{front.base}/", timeout=10).status_code == 200
    if front.kind != "caddy":  # nginx refuses on the header alone, and would log it
        too_large = client.post(
            f"{front.base}/report/", headers={"Content-Length": "999999999999"}, timeout=10
        )
        assert too_large.status_code == 413
    client.get(f"http://127.0.0.1:{front.http_port}/", allow_redirects=False, timeout=10)
    with pytest.raises(ssl.SSLError):
        _handshake(front, ssl.TLSVersion.TLSv1_1)
    time.sleep(0.3)  # a request is logged once it has ended
    texts = {
        path.name: path.read_text(errors="replace")
        for logs in front.logs
        for path in logs.iterdir()
    }
    # The servers' own addresses (start-up lines, links, the certificate's names in Caddy's
    # warning that it has no OCSP server) are no client's.
    ours = [f"127.0.0.1:{port}" for port in (front.https_port, front.http_port, front.app_port)]
    ours.append("[localhost 127.0.0.1]")
    access = texts["meldpunt.access.log"]
    if front.kind != "caddy":
        assert "GET / HTTP/" in access
        assert '"POST /report/ HTTP/1.1" 413' in access
    else:
        assert '"method":"GET","host":"127.0.0.1:' in access and '"uri":"/"' in access
    assert '"GET /" 200' in texts["meldpunt.stdout"]  # gunicorn's access log, via the front
    for name, text in texts.items():
        for address in ours:
            text = text.replace(address, "")
        assert "127.0.0.1" not in text, (name, text)
        assert CLIENT[front.kind] not in text, (name, text)
        assert FORWARDED_FOR not in text, name
        assert "python-requests" not in text, name
