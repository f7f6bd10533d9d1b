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

# One that goes FATAL when started, one that waits to be started.
CRASHER_AND_LAZY = """
[program:crasher]
command = /bin/false
autostart = false
startretries = 0
startsecs = 1

[program:lazy]
command = /bin/sleep 1000
autostart = false
startsecs = 0
"""

PROGRAMS = CRASHER_AND_LAZY + """
[program:sleeper]
command = /bin/sleep 1000
startsecs = 0

[program:talker]
command = /bin/sh -c 'while :; do echo hello-out; echo hello-err >&2; sleep 0.2; done'
startsecs = 0

[program:web]
command = /bin/sleep 1000
numprocs = 2
process_name = web_%(process_num)d
startsecs = 0
"""


class Vigild:
    """`unix_http`: write [unix_http_server] (else [vigil] control_socket
    names the socket, so programs get [inet_http_server]'s URL, if any);
    `auth`: (username, password) asked on the Unix socket, and given to
    supervisorctl in [supervisorctl]; `chown`: [unix_http_server] chown."""

    def __init__(self, programs=PROGRAMS, extra="", unix_http=True, auth=None, chmod="0700", chown=None,
                 dir_mode=None):
        self.unix_http, self.auth, self.chmod, self.chown = unix_http, auth, chmod, chown
        self.dir = tempfile.mkdtemp(prefix="vigil-svd-")
        if dir_mode is not None:
            os.chmod(self.dir, dir_mode)  # other users reach the socket
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
        creds = f"username = {self.auth[0]}\npassword = {self.auth[1]}\n" if self.auth else ""
        unix = ""
        if self.unix_http:
            unix = f"[unix_http_server]\nfile = {self.sock}\nchmod = {self.chmod}\n{creds}"
            if self.chown:
                unix += f"chown = {self.chown}\n"
        vigil_socket = "" if self.unix_http else f"control_socket = {self.sock}\n"
        with open(self.conf, "w") as f:
            f.write(f"""{unix}
[supervisorctl]
serverurl = unix://{self.sock}
{creds}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[vigil]
state_dir = {self.dir}/state
log_dir = {self.dir}/log
{vigil_socket}{extra}
{programs}""")

    def auth_header(self):
        if not self.auth:
            return b""
        import base64
        return b"Authorization: Basic " + base64.b64encode(("%s:%s" % self.auth).encode()) + b"\r\n"

    def proxy(self):
        user, password = self.auth or (None, None)
        transport = SupervisorTransport(user, password, "unix://" + self.sock)
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
        s.sendall(b"POST /v1/programs/%s/wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
                  b"Content-Length: %d\r\n\r\n%s" % (name.encode(), self.auth_header(), len(body), body))
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
