"""A real vigild for the supervisord-compatibility tests: a temp dir, a
config with supervisord's listener sections, and readiness taken from
vigild's own sd_notify READY=1 (no polling). Python's xmlrpc.client with
supervisor.xmlrpc.SupervisorTransport and Debian's supervisorctl talk to it.
"""
import os
import socket
import subprocess
import sys
import tempfile
import xmlrpc.client

SKIP = 77
try:
    from supervisor.xmlrpc import SupervisorTransport, Faults  # noqa: F401
except ImportError:
    print("SKIPPED: Python's supervisor package is missing (scripts/setup.sh installs it)")
    sys.exit(SKIP)

VIGILD = os.environ.get("VIGILD", "vigild")
SUPERVISORCTL = "/usr/bin/supervisorctl"

PROGRAMS = """
[program:sleeper]
command = /bin/sleep 1000
startsecs = 0

[program:talker]
command = /bin/sh -c 'while :; do echo hello-out; echo hello-err >&2; sleep 0.2; done'
startsecs = 0

[program:crasher]
command = /bin/false
autostart = false
startretries = 0
startsecs = 1

[program:lazy]
command = /bin/sleep 1000
autostart = false
startsecs = 0

[program:web]
command = /bin/sleep 1000
numprocs = 2
process_name = web_%(process_num)d
startsecs = 0
"""


class Vigild:
    def __init__(self, programs=PROGRAMS, extra=""):
        self.dir = tempfile.mkdtemp(prefix="vigil-svd-")
        self.sock = os.path.join(self.dir, "supervisor.sock")
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.log = os.path.join(self.dir, "vigild.log")
        self.write_config(programs, extra)
        notify_path = os.path.join(self.dir, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        with open(self.log, "ab") as err:  # O_APPEND: clearLog truncates it safely
            self.proc = subprocess.Popen([VIGILD, "-c", self.conf], stderr=err, stdout=err, env=env)
        notify.settimeout(30)
        try:
            while True:
                msg = notify.recv(4096).decode()
                if "READY=1" in msg.split("\n"):
                    break
        except socket.timeout:
            self.proc.kill()
            raise SystemExit("vigild did not report READY=1 within 30 s; log:\n" + open(self.log).read())
        finally:
            notify.close()

    def write_config(self, programs, extra=""):
        with open(self.conf, "w") as f:
            f.write(f"""[unix_http_server]
file = {self.sock}
chmod = 0700

[supervisorctl]
serverurl = unix://{self.sock}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[vigil]
state_dir = {self.dir}/state
log_dir = {self.dir}/log
{extra}
{programs}""")

    def proxy(self):
        transport = SupervisorTransport(None, None, "unix://" + self.sock)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def ctl(self, *args, timeout=60):
        r = subprocess.run([SUPERVISORCTL, "-c", self.conf, *args], capture_output=True, text=True,
                           timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def wait(self, name, goal, timeout=30):
        """vigil's own event-driven wait (POST /v1/programs/NAME/wait)."""
        body = ('{"goal": "%s", "timeout": %d}' % (goal, timeout)).encode()
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout + 5)
        s.connect(self.sock)
        s.sendall(b"POST /v1/programs/%s/wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (name.encode(), len(body), body))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        assert b" 200 " in data.split(b"\r\n")[0], data

    def raw(self, body, path="/RPC2", timeout=30):
        """One HTTP request on the socket; returns (status line, body)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(self.sock)
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body)))
        try:
            s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early (body too large): the answer is still there to read
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        s.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n")[0].decode(), rest

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        if self.alive():
            try:
                self.proxy().supervisor.shutdown()
            except Exception:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


class Checks:
    """Counts failures instead of stopping at the first, so one run lists them all."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what, flush=True)

    def fault(self, fn, code, what):
        try:
            fn()
        except xmlrpc.client.Fault as e:
            return self.check(e.faultCode == code, f"{what}: fault {e.faultCode} {e.faultString!r}, want {code}")
        self.check(False, f"{what}: no fault, want {code}")

    def done(self):
        print(f"{self.passed} checks passed, {self.failed} failed")
        return 1 if self.failed else 0
