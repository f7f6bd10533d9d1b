"""supervisord's XML-RPC interface on vigild, through Python's xmlrpc.client
and supervisor.xmlrpc.SupervisorTransport (what supervisorctl uses): every
method, the struct fields supervisord returns, its fault codes, and bad
input that must come back as a fault while vigild keeps supervising."""
import sys
import xmlrpc.client

from vigild_fixture import Checks, Vigild
from supervisor.xmlrpc import Faults

INFO_FIELDS = {"name", "group", "start", "stop", "now", "state", "statename", "spawnerr", "exitstatus",
               "logfile", "stdout_logfile", "stderr_logfile", "pid", "description"}
RESULT_FIELDS = {"name", "group", "status", "description"}
CONFIG_FIELDS = {"autostart", "directory", "uid", "command", "exitcodes", "group", "group_prio", "inuse",
                 "killasgroup", "name", "process_prio", "redirect_stderr", "startretries", "startsecs",
                 "stdout_capture_maxbytes", "stdout_events_enabled", "stdout_logfile", "stdout_logfile_backups",
                 "stdout_logfile_maxbytes", "stdout_syslog", "stopsignal", "stopwaitsecs", "stderr_capture_maxbytes",
                 "stderr_events_enabled", "stderr_logfile", "stderr_logfile_backups", "stderr_logfile_maxbytes",
                 "stderr_syslog", "serverurl"}


def main():
    v = Vigild()
    c = Checks()
    try:
        run(v, c)
    finally:
        v.close()
    return c.done()


def run(v, c):
    s = v.proxy().supervisor
    system = v.proxy().system

    # Identity and state
    c.check(s.getAPIVersion() == "3.0", "getAPIVersion")
    c.check(s.getVersion() == "3.0", "getVersion (deprecated alias)")
    c.check(isinstance(s.getSupervisorVersion(), str), "getSupervisorVersion")
    c.check(s.getIdentification() == "vigil", "getIdentification")
    c.check(s.getState() == {"statecode": 1, "statename": "RUNNING"}, "getState")
    c.check(s.getPID() == v.proc.pid, "getPID is vigild's pid")

    # Process info: fields, names, state codes
    infos = s.getAllProcessInfo()
    names = [(i["group"], i["name"]) for i in infos]
    c.check(names == sorted(names), "getAllProcessInfo is sorted by group, name")
    c.check(("web", "web_0") in names and ("web", "web_1") in names, "numprocs processes in their group")
    for i in infos:
        c.check(set(i) == INFO_FIELDS, f"fields of {i['name']}: {sorted(set(i) ^ INFO_FIELDS)}")
    sleeper = s.getProcessInfo("sleeper")
    c.check(sleeper["statename"] == "RUNNING" and sleeper["state"] == 20, "sleeper RUNNING (20)")
    c.check(sleeper["pid"] > 0 and sleeper["description"].startswith("pid "), "running description")
    c.check(sleeper["start"] > 0 and sleeper["now"] >= sleeper["start"], "start/now timestamps")
    lazy = s.getProcessInfo("lazy")
    c.check(lazy["state"] == 0 and lazy["description"] == "Not started", "lazy STOPPED (0), Not started")
    c.check(s.getProcessInfo("web:web_1")["group"] == "web", "group:name lookup")
    c.fault(lambda: s.getProcessInfo("nope"), Faults.BAD_NAME, "getProcessInfo unknown")
    c.fault(lambda: s.getProcessInfo("web:*"), Faults.BAD_NAME, "getProcessInfo of a group")

    # Start / stop with and without wait
    c.check(s.startProcess("lazy") is True, "startProcess waits")
    c.check(s.getProcessInfo("lazy")["statename"] == "RUNNING", "lazy RUNNING after start")
    c.fault(lambda: s.startProcess("lazy"), Faults.ALREADY_STARTED, "start twice")
    c.check(s.stopProcess("lazy") is True, "stopProcess waits")
    c.check(s.getProcessInfo("lazy")["statename"] == "STOPPED", "lazy STOPPED after stop")
    c.check(s.getProcessInfo("lazy")["stop"] >= s.getProcessInfo("lazy")["start"], "stop timestamp")
    c.fault(lambda: s.stopProcess("lazy"), Faults.NOT_RUNNING, "stop a stopped process")
    c.check(s.startProcess("lazy", False) is True, "startProcess(wait=False)")
    v.wait("lazy", "running")
    c.check(s.stopProcess("lazy", False) is True, "stopProcess(wait=False)")
    v.wait("lazy", "stopped")
    c.fault(lambda: s.startProcess("crasher"), Faults.SPAWN_ERROR, "start a crasher")
    c.check(s.getProcessInfo("crasher")["statename"] in ("BACKOFF", "FATAL"), "crasher BACKOFF/FATAL")
    c.check(s.getProcessInfo("crasher")["exitstatus"] == 1, "crasher exitstatus 1")
    c.fault(lambda: s.startProcess("nope"), Faults.BAD_NAME, "start unknown")

    # Groups and all
    res = s.stopProcessGroup("web")
    c.check(len(res) == 2 and all(set(r) == RESULT_FIELDS and r["status"] == Faults.SUCCESS for r in res),
            f"stopProcessGroup results {res}")
    res = s.startProcessGroup("web")
    c.check(len(res) == 2 and all(r["status"] == Faults.SUCCESS for r in res), "startProcessGroup")
    c.check(s.startProcess("web:*") == s.startProcessGroup("web") == [], "group already running: no results")
    c.fault(lambda: s.startProcessGroup("nope"), Faults.BAD_NAME, "startProcessGroup unknown")
    res = s.stopAllProcesses()
    c.check(all(r["status"] == Faults.SUCCESS for r in res) and len(res) >= 4, f"stopAllProcesses {res}")
    c.check(all(i["statename"] in ("STOPPED", "EXITED", "FATAL") for i in s.getAllProcessInfo()), "all down")
    res = s.startAllProcesses()
    by_name = {r["name"]: r for r in res}
    c.check(by_name["crasher"]["status"] == Faults.SPAWN_ERROR, "startAllProcesses reports the crasher's fault")
    c.check(by_name["sleeper"]["status"] == Faults.SUCCESS, "startAllProcesses starts sleeper")

    # Signals
    c.check(s.signalProcess("sleeper", "CONT") is True, "signalProcess by name")
    c.check(s.signalProcess("sleeper", "18") is True, "signalProcess by number")
    c.fault(lambda: s.signalProcess("sleeper", "NOSUCHSIG"), Faults.BAD_SIGNAL, "bad signal")
    s.stopProcess("lazy", True) if s.getProcessInfo("lazy")["state"] == 20 else None
    c.fault(lambda: s.signalProcess("lazy", "HUP"), Faults.NOT_RUNNING, "signal a stopped process")
    res = s.signalProcessGroup("web", "CONT")
    c.check(len(res) == 2 and all(r["status"] == Faults.SUCCESS for r in res), "signalProcessGroup")
    c.check(all(r["status"] == Faults.SUCCESS for r in s.signalAllProcesses("CONT")), "signalAllProcesses")
    c.fault(lambda: s.signalProcessGroup("nope", "HUP"), Faults.BAD_NAME, "signalProcessGroup unknown")

    # Logs
    v.wait("talker", "running")
    out = s.readProcessStdoutLog("talker", 0, 0)
    c.check("hello-out" in out, "readProcessStdoutLog")
    c.check("hello-err" in s.readProcessStderrLog("talker", -100, 0), "readProcessStderrLog from the end")
    c.fault(lambda: s.readProcessStdoutLog("talker", -10, 5), Faults.BAD_ARGUMENTS, "negative offset with length")
    c.fault(lambda: s.readProcessStdoutLog("nope", 0, 0), Faults.BAD_NAME, "read log of unknown")
    data, offset, overflow = s.tailProcessStdoutLog("talker", 0, 10)
    c.check(len(data) == 10 and offset > 0 and overflow is True, "tailProcessStdoutLog overflow")
    data, offset2, overflow = s.tailProcessStderrLog("talker", 0, 1 << 20)
    c.check("hello-err" in data and overflow is False, "tailProcessStderrLog")
    c.check(s.clearProcessLogs("talker") is True, "clearProcessLogs")
    c.check(len(s.readProcessStdoutLog("talker", 0, 0)) < len(out), "log shorter after clear")
    c.fault(lambda: s.clearProcessLogs("nope"), Faults.BAD_NAME, "clear unknown")
    res = s.clearAllProcessLogs()
    c.check(all(set(r) == RESULT_FIELDS and r["status"] == Faults.SUCCESS for r in res), "clearAllProcessLogs")
    c.check("vigild" in s.readLog(0, 0) or len(s.readLog(-1000, 0)) > 0, "readLog")
    c.fault(lambda: s.readLog(-1, 1), Faults.BAD_ARGUMENTS, "readLog bad arguments")
    c.check(s.clearLog() is True, "clearLog")

    # stdin and remote events
    c.fault(lambda: s.sendProcessStdin("sleeper", "x"), Faults.NO_FILE, "sendProcessStdin: no stdin pipe")
    c.fault(lambda: s.sendProcessStdin("lazy", "x"), Faults.NOT_RUNNING, "sendProcessStdin to stopped")
    c.fault(lambda: s.sendProcessStdin("nope", "x"), Faults.BAD_NAME, "sendProcessStdin unknown")
    c.check(s.sendRemoteCommEvent("type", "data") is True, "sendRemoteCommEvent")

    # Config: reread, add, remove
    cfg = s.getAllConfigInfo()
    c.check(all(set(i) == CONFIG_FIELDS for i in cfg), "getAllConfigInfo fields")
    c.check(s.reloadConfig() == [[[], [], []]], "reloadConfig: nothing changed")
    from vigild_fixture import PROGRAMS
    v.write_config(PROGRAMS.replace("[program:lazy]", "[program:extra]\ncommand = /bin/sleep 999\nstartsecs = 0\n\n"
                                    "[program:lazy]").replace("[program:crasher]", "[program:gone]"))
    added, changed, removed = s.reloadConfig()[0]
    c.check(added == ["extra", "gone"] and removed == ["crasher"], f"reloadConfig diff {added} {changed} {removed}")
    c.check(any(i["name"] == "extra" and not i["inuse"] for i in s.getAllConfigInfo()), "extra available")
    c.check(s.addProcessGroup("extra") is True, "addProcessGroup")
    v.wait("extra", "running")
    c.fault(lambda: s.addProcessGroup("extra"), Faults.ALREADY_ADDED, "add twice")
    c.fault(lambda: s.addProcessGroup("nope"), Faults.BAD_NAME, "add unknown")
    c.fault(lambda: s.removeProcessGroup("extra"), Faults.STILL_RUNNING, "remove a running group")
    s.stopProcessGroup("extra")
    c.check(s.removeProcessGroup("extra") is True, "removeProcessGroup")
    c.fault(lambda: s.getProcessInfo("extra"), Faults.BAD_NAME, "removed group is gone")
    c.fault(lambda: s.removeProcessGroup("nope"), Faults.BAD_NAME, "remove unknown")
    with open(v.conf, "a") as f:
        f.write("\n[program:broken\n")
    c.fault(lambda: s.reloadConfig(), Faults.CANT_REREAD, "reloadConfig of a broken file")
    v.write_config(PROGRAMS)

    # system.*
    methods = system.listMethods()
    for m in ["supervisor.getState", "supervisor.startProcess", "supervisor.tailProcessStdoutLog",
              "system.multicall", "system.methodHelp", "system.methodSignature", "supervisor.restart"]:
        c.check(m in methods, f"listMethods has {m}")
    c.check(isinstance(system.methodHelp("supervisor.getState"), str), "methodHelp")
    c.check(system.methodSignature("supervisor.startProcess") == ["boolean", "string", "boolean"], "methodSignature")
    c.fault(lambda: system.methodHelp("nope"), Faults.SIGNATURE_UNSUPPORTED, "methodHelp unknown")
    res = system.multicall([{"methodName": "supervisor.getAPIVersion", "params": []},
                            {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
                            {"methodName": "supervisor.stopProcess", "params": ["sleeper"]},
                            {"methodName": "supervisor.startProcess", "params": ["sleeper"]},
                            {"methodName": "system.multicall", "params": [[]]}])
    c.check(res[0] == ["3.0"], "multicall value")
    c.check(res[1]["faultCode"] == Faults.BAD_NAME, "multicall fault")
    c.check(res[2] == [True] and res[3] == [True], "multicall waits for each call in order")
    c.check(res[4]["faultCode"] == Faults.INCORRECT_PARAMETERS, "recursive multicall refused")

    # Bad input: faults, never a crash
    c.fault(lambda: s.noSuchMethod(), Faults.UNKNOWN_METHOD, "unknown method")
    c.fault(lambda: s.startProcess(42), Faults.INCORRECT_PARAMETERS, "wrong argument type")
    c.fault(lambda: s.getProcessInfo(), Faults.INCORRECT_PARAMETERS, "missing argument")
    c.fault(lambda: s.getState("extra"), Faults.INCORRECT_PARAMETERS, "too many arguments")
    c.fault(lambda: s.startProcess("sleeper", "yes"), Faults.INCORRECT_PARAMETERS, "wait is not a boolean")
    bad = {
        "malformed": b"<methodCall><methodName>supervisor.getState</methodName><params>",
        "not xml": b"\x00\xff garbage",
        "wrong root": b"<foo/>",
        "doctype": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><methodCall><methodName>&x;</methodName></methodCall>',
        "deep": b"<methodCall><methodName>system.multicall</methodName><params><param>" +
                b"<value><array><data>" * 100000 + b"</data></array></value>" * 100000 + b"</param></params></methodCall>",
        "bad int": b"<methodCall><methodName>supervisor.readLog</methodName><params><param><value><int>12x</int>"
                   b"</value></param></params></methodCall>",
        "huge int": b"<methodCall><methodName>supervisor.readLog</methodName><params><param><value><int>99999999999"
                    b"</int></value></param></params></methodCall>",
        "big body": b"<methodCall><methodName>" + b"a" * (700 * 1024) + b"</methodName></methodCall>",
    }
    for what, body in bad.items():
        status, reply = v.raw(body)
        if what == "deep":
            # Over the HTTP body limit (1 MiB): refused before it is parsed.
            c.check("413" in status or b"<fault>" in reply, f"{what}: {status}")
        else:
            c.check("200" in status and b"<fault>" in reply, f"{what}: {status} {reply[:200]!r}")
    status, reply = v.raw(b"<methodCall><methodName>system.multicall</methodName><params><param>" +
                          b"<value><array><data>" * 40 + b"</data></array></value>" * 40 + b"</param></params></methodCall>")
    c.check(b"<fault>" in reply and b"nested" in reply, f"nesting limit: {reply[:200]!r}")
    status, reply = v.raw(b"x" * (2 << 20))
    c.check("413" in status, f"2 MiB body: {status}")
    c.check(v.alive() and s.getProcessInfo("sleeper")["statename"] == "RUNNING", "vigild still supervising")

    # restart and shutdown
    before = s.getProcessInfo("sleeper")["pid"]
    c.check(s.restart() is True, "restart")
    v.wait("sleeper", "running")
    c.check(s.getProcessInfo("sleeper")["pid"] != before, "restart restarted sleeper")
    c.check(s.shutdown() is True, "shutdown")
    try:
        v.proc.wait(timeout=30)
        c.check(v.proc.returncode == 0, f"vigild exit status {v.proc.returncode}")
    except Exception as e:
        c.check(False, f"vigild did not exit after shutdown: {e}")


if __name__ == "__main__":
    sys.exit(main())
