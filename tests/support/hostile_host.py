"""Stands in for the python3 of a compromised or broken host in fleet verify (security review F8, F14).

Used as a host's ``ansible_python_interpreter`` on the local connection (through a small sh wrapper
that names the mode): it swallows the zipapp on stdin, as a real python would read it, and answers
with the report of the mode instead of running the checks.

    bogus-status   a report whose check has a status no renderer knows ("bogus")
    escapes        a well-formed report (and stderr) full of terminal escapes and XML-invalid characters
    not-a-report   JSON that is not a report object (a list)
    flood          output without end (a host trying to exhaust the control host's memory)
"""
import json
import sys

ESC = "\x1b]0;owned\x07\x1b[2J\x1b[31mFAKE OK\x1b[0m\x9b1m\x00\x0c"


def report(status, detail):
    checks = [{"id": "platform", "status": status, "title": "Platform", "detail": detail, "remedy": "",
               "evidence": {}, "layer": "Platform"}]
    summary = {s: sum(c["status"] == s for c in checks) for s in ("pass", "warn", "fail", "skip")}
    return {"ok": True, "summary": summary, "environment": {"hostname": "evil" + ESC}, "gpus": [],
            "checks": checks}


def main(mode):
    sys.stdin.buffer.read()
    if mode == "bogus-status":
        print(json.dumps(report("bogus", "all good")))
    elif mode == "escapes":
        print("warning: " + ESC, file=sys.stderr)
        print(json.dumps(report("pass", "Debian 12 " + ESC)))
    elif mode == "flood":
        chunk = b"x" * (1 << 20)
        for _ in range(4096):                       # 4 GiB at most: bounded even if nobody stops reading
            sys.stdout.buffer.write(chunk)
    else:
        print(json.dumps([1, 2, 3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
