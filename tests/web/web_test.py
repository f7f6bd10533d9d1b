"""vigild's web status page in a real headless Chromium (issue 19): a vigild
with 200 programs, a vigil-proxy pool and [inet_http_server] behind basic
auth on a free 127.0.0.1 port. Checks: a wrong password gets 401; the page
lists every program with its state; a `vigilctl stop` shows up without a
reload; a click on Stop stops the program; a POST without the page's token
from the page, or from another site, is refused with 403; the log view
streams; the pool and its servers are shown; phone width has no sideways
scroll; a read-only user sees no buttons and is refused; the first load
at 200 programs is at most 100 KB.

    web_test.py                       the checks (ctest label `web`)
    web_test.py --screenshot DIR      docs/ screenshots of a demo-like config
Exit 77 (SKIPPED) without chromium, unless CI=true (then a failure)."""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser  # noqa: E402

VIGILD = os.environ.get("VIGILD", "vigild")
VIGILCTL = os.environ.get("VIGILCTL", "vigilctl")
USER, PASSWORD = "admin", "s3cret"
RO_USER, RO_PASSWORD = "viewer", "l00k"
FIRST_LOAD_LIMIT = 100 * 1024

# Resolves when fn() is truthy (checked on every DOM change), null at the deadline.
WAIT_FOR = """((fn, ms) => new Promise((res) => {
  let done = false;
  const finish = (v) => { if (done) return; done = true; mo.disconnect(); clearTimeout(to); res(v); };
  const check = () => { let v = null; try { v = fn(); } catch (e) {} if (v) finish(v); };
  const mo = new MutationObserver(check);
  mo.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  const to = setTimeout(() => finish(null), ms);
  check();
}))"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def backend(name, port, extra=""):
    return f"""
[program:{name}]
command = python3 -m http.server --bind 127.0.0.1 {port}
address = 127.0.0.1:{port}
healthcheck = http://127.0.0.1:{port}/
health_interval = 1s
health_start_interval = 200ms
startsecs = 0
{extra}"""


def pool_config(proxy_port, ports):
    return (backend("web-1", ports[0]) + backend("web-2", ports[1]) + f"""
[upstream:web]
servers = web-1, web-2
max_fails = 3

[proxy:front]
listen = 127.0.0.1:{proxy_port}
route = / web

[program:proxy]
kind = proxy
startsecs = 0
""")


TEST_PROGRAMS = """
[program:talker]
command = /bin/sh -c 'while :; do echo hello-web; sleep 0.3; done'
startsecs = 0

[program:victim]
command = /bin/sleep 1000
startsecs = 0

[program:clicked]
command = /bin/sleep 1000
startsecs = 0

[program:guarded]
command = /bin/sleep 1000
startsecs = 0

[program:crasher]
command = /bin/sh -c 'echo "cannot open /etc/app.conf" >&2; exit 2'
startretries = 0
startsecs = 1

[program:fill]
command = /bin/sleep 1000
numprocs = 192
process_name = fill-%(process_num)03d
startsecs = 0
"""

DEMO_PROGRAMS = """
[program:ticker]
command = /bin/sh -c 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done'
startsecs = 0

[program:worker]
command = /bin/sh -c 'while true; do echo "worker $WORKER_ID"; sleep 2; done'
numprocs = 2
process_name = worker_%(process_num)d
environment = WORKER_ID=%(process_num)d
startsecs = 0

[program:reporter]
command = /bin/sh -c 'echo "reporting for duty"; exit 3'
exitcodes = 0,3
autorestart = unexpected
startsecs = 0

[program:migrate]
command = /bin/sh -c 'echo "cannot open /etc/app.conf" >&2; exit 2'
startretries = 0
startsecs = 1

[program:nightly]
command = /bin/sleep 1000
autostart = false
"""


class Vigild:
    def __init__(self, programs):
        self.dir = tempfile.mkdtemp(prefix="vigil-web-")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "vigil.ini")
        with open(self.conf, "w") as f:
            f.write(f"""[vigil]
control_socket = {self.dir}/vigil.sock
state_dir = {self.dir}/state
log_dir = {self.dir}/log

[inet_http_server]
port = 127.0.0.1:{self.port}
username = {USER}
password = {PASSWORD}
read_only_username = {RO_USER}
read_only_password = {RO_PASSWORD}
{programs}""")
        notify_path = os.path.join(self.dir, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        self.log = open(os.path.join(self.dir, "vigild.log"), "ab")
        self.proc = subprocess.Popen([VIGILD, "-c", self.conf], stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, NOTIFY_SOCKET=notify_path))
        notify.settimeout(60)
        try:
            while "READY=1" not in notify.recv(4096).decode().split("\n"):
                pass
        finally:
            notify.close()
        self.url = f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, auth=(USER, PASSWORD), headers=None, timeout=90):
        req = urllib.request.Request(self.url + path, method=method, data=body, headers=dict(headers or {}))
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait(self, spec, goal, timeout=60):
        """vigild's own event-driven wait: answers when `spec` reached `goal`."""
        status, body = self.request("POST", f"/v1/programs/{spec}/wait",
                                    json.dumps({"goal": goal, "timeout": timeout}).encode())
        if status != 200:
            raise SystemExit(f"{spec} did not get {goal}: {status} {body[:300]!r}")

    def ctl(self, *args):
        r = subprocess.run([VIGILCTL, "-c", self.conf, *args], capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def close(self):
        if self.proc.poll() is None:
            self.ctl("shutdown")
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Checks:
    def __init__(self):
        self.failed = self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
            print("ok:", what, flush=True)
        else:
            self.failed += 1
            print("FAIL:", what, flush=True)


def auth_header(password, user=USER):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def open_page(b, v, rows):
    """Loads the page; returns once `rows` programs are listed and the events stream is live."""
    b.page("Network.setExtraHTTPHeaders", headers=auth_header(PASSWORD))
    b.navigate(v.url + "/")
    ok = b.eval(f"""{WAIT_FOR}(() => document.querySelectorAll('#programs tr.row').length === {rows}
                    && document.getElementById('live').textContent === 'live', 30000)""", timeout=40)
    return ok


def first_load_bytes(events):
    """Bytes on the wire per URL (headers included) for the requests of one load."""
    urls, finished, streamed = {}, {}, {}
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Network.requestWillBeSent":
            urls[p["requestId"]] = p["request"]["url"]
        elif e.get("method") == "Network.loadingFinished":
            finished[p["requestId"]] = p["encodedDataLength"]
        elif e.get("method") == "Network.dataReceived":
            streamed[p["requestId"]] = streamed.get(p["requestId"], 0) + p.get("encodedDataLength", 0)
    # A finished request counts its total; a stream still open (the events)
    # what it has received so far.
    sizes = dict(finished)
    sizes.update({rid: n for rid, n in streamed.items() if rid not in finished})
    out = {}
    for rid, n in sizes.items():
        url = urls.get(rid, "?")
        out[url] = out.get(url, 0) + n
    return out


def run_checks(b, c):
    ports = [free_port() for _ in range(3)]
    v = Vigild(TEST_PROGRAMS + pool_config(ports[0], ports[1:]))
    try:
        status, _ = v.request("GET", "/", auth=(USER, "wrong"))
        c.check(status == 401, f"wrong password over HTTP: {status}")
        csrf_rule(v, c)
        v.wait("crasher", "stopped")
        for spec in ("fill", "talker", "victim", "clicked", "guarded"):
            v.wait(spec, "running")
        for name in ("web-1", "web-2", "proxy"):
            v.wait(name, "healthy")

        b.page("Network.setExtraHTTPHeaders", headers=auth_header("wrong"))
        b.drain()
        b.navigate(v.url + "/")
        docs = [e["params"]["response"]["status"] for e in b.drain()
                if e.get("method") == "Network.responseReceived" and e["params"]["type"] == "Document"]
        c.check(docs == [401], f"a wrong password gets 401 in the browser: {docs}")

        b.drain()
        listed = open_page(b, v, 200)
        c.check(listed, "the page lists 200 programs and its events stream is live")
        b.eval(f"{WAIT_FOR}(() => document.querySelector('#pools tr[data-server=\"web-2\"]'), 10000)")
        sizes = first_load_bytes(b.drain())
        total = sum(sizes.values())
        for url, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"  first load: {n:7d} B  {url}")
        print(f"  first load at 200 programs: {total} bytes")
        c.check(0 < total <= FIRST_LOAD_LIMIT, f"first load at 200 programs {total} B <= {FIRST_LOAD_LIMIT} B")

        page_states = dict(b.eval("[...document.querySelectorAll('#programs tr.row')].map(tr => [tr.dataset.name, "
                                  "tr.querySelector('.st').textContent])"))
        _, body = v.request("GET", "/v1/programs?fields=name,state")
        api_states = {p["name"]: p["state"] for p in json.loads(body)}
        c.check(page_states == api_states, "every program's state on the page is vigild's "
                f"({sum(1 for s in page_states.values() if s == 'RUNNING')} RUNNING, crasher {page_states.get('crasher')})")
        info = b.eval("document.querySelector('tr[data-name=\"crasher\"] .info').textContent")
        c.check("exit" in info or "quickly" in info, f"crasher's row says why it is down: {info!r}")
        buttons = b.eval("getComputedStyle(document.querySelector('tr[data-name=\"victim\"] [data-a=stop]')).display")
        c.check(buttons != "none", "without /v1/access (404) the page shows the action buttons")

        b.eval("window.__sameDocument = 1")
        code, out = v.ctl("stop", "victim")
        c.check(code == 0, f"vigilctl stop victim: {code} {out.strip()}")
        shown = b.eval(f"{WAIT_FOR}(() => document.querySelector('tr[data-name=\"victim\"]').dataset.state === 'STOPPED'"
                       f" && window.__sameDocument === 1, 15000)", timeout=20)
        c.check(shown, "vigilctl stop shows up as STOPPED on the page without a reload")
        c.check(b.eval("document.getElementById('events').textContent.includes('victim')"),
                "the stop is in the page's recent events")

        b.eval("document.querySelector('tr[data-name=\"clicked\"] button[data-a=\"stop\"]').click()")
        v.wait("clicked", "stopped", timeout=30)
        code, out = v.ctl("status", "clicked")
        c.check("STOPPED" in out, f"a click on Stop stopped it: vigilctl status clicked: {out.strip()}")

        status = b.eval("fetch('/v1/programs/guarded/stop', {method: 'POST', body: '{}'}).then(r => r.status)")
        c.check(status == 403, f"a POST from the page without X-Vigil-Token: {status}")
        attack = ("data:text/html,<form method=post enctype=text/plain action='" + v.url +
                  "/v1/programs/guarded/stop'><input name=x value=y></form><script>document.forms[0].submit()</script>")
        b.drain()
        b.page("Page.navigate", url=attack)
        resp = b.wait_event(lambda e: e.get("method") == "Network.responseReceived"
                            and e["params"]["response"]["url"].startswith(v.url + "/v1/programs/guarded/stop"),
                            timeout=20)
        c.check(resp["params"]["response"]["status"] == 403,
                f"a cross-site form POST (basic auth cached): {resp['params']['response']['status']}")
        code, out = v.ctl("status", "guarded")
        c.check("RUNNING" in out, f"guarded still runs after both: {out.strip()}")
        code, out = v.ctl("stop", "guarded")
        c.check(code == 0, f"vigilctl (no Origin, no token) still acts: {code} {out.strip()}")

        c.check(open_page(b, v, 200), "the page loads again")
        b.eval("document.querySelector('tr[data-name=\"talker\"] button[data-a=\"log\"]').click()")
        log = b.eval(f"{WAIT_FOR}(() => (document.getElementById('logtext').textContent.match(/hello-web/g) || []).length >= 8, 20000)",
                     timeout=25)
        c.check(log, "the log view streams talker's output (8 lines)")
        b.eval("document.getElementById('logclose').click()")

        pool = b.eval(f"{WAIT_FOR}(() => document.querySelectorAll('#pools tr[data-server]').length === 2, 10000)"
                      ".then(() => [...document.querySelectorAll('#pools tr[data-server]')].map(tr => tr.textContent))")
        c.check(len(pool) == 2 and all("up" in row for row in pool), f"pool web with its 2 servers up: {pool}")
        b.eval("document.querySelector('tr[data-name=\"web-1\"] button.name').click()")
        checks = b.eval(f"{WAIT_FOR}(() => document.querySelector('tr.detail .checks li'), 10000).then(() => "
                        "document.querySelector('tr.detail').textContent)")
        c.check(checks and "last checks" in checks and "ok" in checks, f"web-1's details show its last checks: {checks!r:.200}")

        b.page("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
        layout = b.eval("[document.documentElement.scrollWidth, getComputedStyle(document.querySelector('#programs thead')).display,"
                        " [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
                        ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)]")
        c.check(layout[0] <= 390 and layout[1] == "none", f"phone width: no sideways scroll, one card per program: {layout}")
        b.page("Emulation.clearDeviceMetricsOverride")
        read_only_view(b, v, c)
    finally:
        v.close()


def csrf_rule(v, c):
    """The token rule at the HTTP level, before any browser."""
    _, page = v.request("GET", "/")
    token = page.decode().split('name="vigil-token" content="')[1].split('"')[0]
    rpc = b"<?xml version='1.0'?><methodCall><methodName>supervisor.stopProcess</methodName>" \
          b"<params><param><value><string>guarded</string></value></param></params></methodCall>"
    status, _ = v.request("POST", "/RPC2", rpc, headers={"Origin": "http://evil.example"})
    c.check(status == 403, f"XML-RPC POST with a foreign Origin and no token: {status}")
    status, _ = v.request("POST", "/v1/programs/guarded/stop", b"{}", headers={"Sec-Fetch-Site": "cross-site"})
    c.check(status == 403, f"POST with Sec-Fetch-Site: cross-site and no token: {status}")
    status, _ = v.request("POST", "/v1/programs/guarded/stop", b"{}",
                          headers={"Origin": v.url, "X-Vigil-Token": "0" * len(token)})
    c.check(status == 403, f"POST with a wrong token: {status}")
    status, _ = v.request("POST", "/v1/programs/guarded/restart", b"{}", headers={"Origin": v.url, "X-Vigil-Token": token})
    c.check(status == 200, f"POST with the page's token: {status}")


def read_only_view(b, v, c):
    """[inet_http_server] read_only_username: GET /v1/access says read, no
    logs; the page shows no action and no log button, and an action sent
    anyway (with the token) is refused by vigild."""
    b.page("Network.setExtraHTTPHeaders", headers=auth_header(RO_PASSWORD, RO_USER))
    b.navigate(v.url + "/")
    shown = b.eval(f"""{WAIT_FOR}(() => document.body.classList.contains('ro')
                       && document.body.classList.contains('nologs')
                       && document.querySelectorAll('#programs tr.row').length === 200, 20000).then((ok) =>
                       ok && [...document.querySelectorAll('#programs button[data-a]')].filter(x => x.offsetParent).length)""")
    c.check(shown == 0, f"a read-only user's page shows no action or log button ({shown} visible)")
    status = b.eval("fetch('/v1/programs/talker/stop', {method: 'POST', body: '{}', headers: {'X-Vigil-Token': "
                    "document.querySelector('meta[name=vigil-token]').content}}).then(r => r.status)")
    c.check(status == 403, f"a read-only user's POST with the page's token: {status}")


def screenshots(b, out_dir):
    ports = [free_port() for _ in range(3)]
    v = Vigild(DEMO_PROGRAMS + pool_config(ports[0], ports[1:]))
    try:
        v.wait("migrate", "stopped")
        for name in ("web-1", "web-2", "proxy"):
            v.wait(name, "healthy")
        v.ctl("restart", "worker_1")
        rows = len(json.loads(v.request("GET", "/v1/programs?fields=name")[1]))
        open_page(b, v, rows)
        b.eval(f"{WAIT_FOR}(() => document.querySelector('#pools tr[data-server=\"web-2\"]'), 10000)")
        b.eval("document.querySelector('tr[data-name=\"web-1\"] button.name').click()")
        b.eval(f"{WAIT_FOR}(() => document.querySelector('tr.detail .checks li'), 10000)")
        for name, (w, h, mobile) in {"web-status.png": (1280, 0, False), "web-status-phone.png": (390, 844, True)}.items():
            b.page("Emulation.setDeviceMetricsOverride", width=w, height=h or 900, deviceScaleFactor=1, mobile=mobile)
            # The whole page on the desktop, the first screen on the phone.
            height = h or b.eval("document.documentElement.scrollHeight")
            shot = b.page("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": w, "height": height, "scale": 1})
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print("wrote", os.path.join(out_dir, name))
    finally:
        v.close()


def main():
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        if os.environ.get("CI") == "true":
            print("FAIL: chromium is missing, and on CI it must be there (scripts/setup.sh installs it)")
            return 1
        print("SKIPPED: chromium is missing (scripts/setup.sh installs it)")
        return 77
    b = Browser()
    c = Checks()
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--screenshot":
            screenshots(b, sys.argv[2])
            return 0
        run_checks(b, c)
    finally:
        b.close()
    print(f"{c.passed} checks passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
