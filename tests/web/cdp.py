"""A headless Chromium driven over the DevTools protocol on
--remote-debugging-pipe (fd 3: commands in, fd 4: replies and events out,
each message JSON ended by a NUL byte), so no websocket library is needed.
Every wait has a deadline; nothing sleeps."""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time


class Timeout(Exception):
    pass


class Browser:
    def __init__(self, width=1280, height=900):
        self.exe = shutil.which("chromium") or shutil.which("chromium-browser")
        self.profile = tempfile.mkdtemp(prefix="vigil-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():  # in the child, before exec: the two pipe ends at 3 and 4
            # Copied above 4 first, as a pipe end may already sit at 3 or 4
            # (and dup2 onto itself would keep its close-on-exec flag).
            os.dup2(to_chrome_r, 100)
            os.dup2(from_chrome_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        args = [self.exe, "--headless", "--remote-debugging-pipe", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--password-store=basic", "--use-mock-keychain", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.events = []
        self.next_id = 0
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(domain + ".enable", session=True)

    def _read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no message from chromium")
            ready, _, _ = select.select([self.from_chrome], [], [], left)
            if ready:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed its pipe")
                self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, session=False, timeout=30, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            if "method" in m:
                self.events.append(m)

    def page(self, method, timeout=30, **params):
        return self.call(method, session=True, timeout=timeout, **params)

    def wait_event(self, pred, timeout=30):
        """The first event (kept or new) for which pred(event) holds; it is consumed."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if pred(e):
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def drain(self):
        """Events so far (reads whatever is already in the pipe), consumed."""
        while select.select([self.from_chrome], [], [], 0)[0] or b"\0" in self.buf:
            try:
                self.events.append(self._read(time.monotonic() + 1))
            except Timeout:
                break
        out, self.events = self.events, []
        return out

    def eval(self, expr, timeout=30):
        """The value of a JS expression (a promise is awaited)."""
        r = self.page("Runtime.evaluate", timeout=timeout, expression=expr, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr[:80]}: {r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def navigate(self, url, timeout=30):
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.page("Page.navigate", url=url)
        self.wait_event(lambda e: e.get("method") == "Page.loadEventFired", timeout)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
