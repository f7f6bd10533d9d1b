"""[inet_http_server] and [unix_http_server] as vigild's listeners: the
same API over TCP behind HTTP basic auth ({SHA} password), and the Unix
socket's chmod. Traffic to 127.0.0.1 only."""
import hashlib
import http.client
import os
import socket
import stat
import subprocess
import sys
import xmlrpc.client

from vigild_fixture import SUPERVISORCTL, Checks, Vigild

CALL = b"<?xml version='1.0'?><methodCall><methodName>supervisor.getState</methodName><params/></methodCall>"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(port, auth=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "text/xml"}
    if host:
        headers["Host"] = host
    if auth:
        import base64
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    conn.request("POST", "/RPC2", CALL, headers)
    r = conn.getresponse()
    return r.status, r.getheader("WWW-Authenticate"), r.read()


def main():
    port = free_port()
    digest = hashlib.sha1(b"s3cret").hexdigest()
    v = Vigild(extra=f"\n[inet_http_server]\nport = 127.0.0.1:{port}\nusername = admin\npassword = {{SHA}}{digest}\n")
    c = Checks()
    try:
        mode = stat.S_IMODE(os.stat(v.sock).st_mode)
        c.check(mode == 0o700, f"[unix_http_server] chmod = 0700: socket mode {oct(mode)}")
        status, challenge, _ = post(port)
        c.check(status == 401 and challenge and challenge.startswith("Basic"), f"no auth: {status} {challenge}")
        status, _, _ = post(port, "admin:wrong")
        c.check(status == 401, f"wrong password: {status}")
        status, _, _ = post(port, "root:s3cret")
        c.check(status == 401, f"wrong user: {status}")
        status, _, body = post(port, "admin:s3cret")
        c.check(status == 200 and b"RUNNING" in body, f"right credentials: {status} {body[:200]!r}")
        p = xmlrpc.client.ServerProxy(f"http://admin:s3cret@127.0.0.1:{port}/RPC2")
        c.check(p.supervisor.getProcessInfo("sleeper")["statename"] == "RUNNING", "xmlrpc.client over TCP")
        r = subprocess.run([SUPERVISORCTL, "-s", f"http://127.0.0.1:{port}", "-u", "admin", "-p", "s3cret",
                            "status", "sleeper"], capture_output=True, text=True, timeout=60)
        c.check(r.returncode == 0 and "RUNNING" in r.stdout, f"supervisorctl over TCP: {r.stdout}{r.stderr}")
        r = subprocess.run([SUPERVISORCTL, "-s", f"http://127.0.0.1:{port}", "-u", "admin", "-p", "nope",
                            "status"], capture_output=True, text=True, timeout=60)
        c.check("401" in r.stdout + r.stderr or "authentication" in (r.stdout + r.stderr).lower(),
                f"supervisorctl with a wrong password: {r.stdout}{r.stderr}")
    finally:
        v.close()
    no_auth_rebinding(c)
    return c.done()


def head_answers(c, port):
    """HEAD is GET without the body, on one kept-alive connection: the
    status and Content-Length of GET, no body bytes, and the next request
    on the same connection is read as a request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for path in ("/", "/v1/programs", "/nope"):
        conn.request("GET", path)
        g = conn.getresponse()
        body = g.read()
        conn.request("HEAD", path)
        h = conn.getresponse()
        rest = h.read()
        c.check(h.status == g.status and h.getheader("Content-Length") == str(len(body)) and rest == b"",
                f"HEAD {path}: {h.status} {h.getheader('Content-Length')} vs GET {g.status} {len(body)}")
    conn.request("GET", "/v1/programs")
    r = conn.getresponse()
    c.check(r.status == 200 and b"sleeper" in r.read(), "a GET after HEADs on the same connection")
    conn.close()


def no_auth_rebinding(c):
    """Without credentials, only a Host that is an address or localhost is
    answered: a page whose own name resolves to 127.0.0.1 is refused."""
    port = free_port()
    v = Vigild(extra=f"\n[inet_http_server]\nport = 127.0.0.1:{port}\n")
    try:
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io"):
            status, _, body = post(port, host=host)
            c.check(status == 403 and b"DNS rebinding" in body, f"Host {host} without auth: {status} {body[:200]!r}")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            status, _, body = post(port, host=host)
            c.check(status == 200 and b"RUNNING" in body, f"Host {host} without auth: {status} {body[:200]!r}")
        r = subprocess.run([SUPERVISORCTL, "-s", f"http://localhost:{port}", "status", "sleeper"],
                           capture_output=True, text=True, timeout=60)
        c.check(r.returncode == 0 and "RUNNING" in r.stdout, f"supervisorctl to localhost without auth: {r.stdout}{r.stderr}")
        head_answers(c, port)
        still = post(port, host=f"127.0.0.1:{port}")[0]
        c.check(still == 200, f"vigild still answers after the refusals: {still}")
    finally:
        v.close()


if __name__ == "__main__":
    sys.exit(main())
