"""A .deb named xpumanager that stands in for XPU Manager 1.x (the real package is unreachable here).

Same unit names (xpum.service, xpum_rest.service) and the same xpum_rest command line as upstream's
package (intel/xpumanager rest/xpum_rest.service.template.in @ 38088debca9b37e2df723d53933c647b8939e1e2);
gunicorn is a shim that serves the 1.x stand-in of tests/support/xpum_standins.py.
"""
import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent

SHIM = r'''#!/usr/bin/python3
# Test stand-in for gunicorn serving xpum_rest: takes upstream's command line, serves the 1.x stand-in.
import argparse, ssl, sys
sys.path.insert(0, "/usr/lib/xpum/rest")
import xpum_standins as xs
p = argparse.ArgumentParser()
p.add_argument("--certfile"); p.add_argument("--keyfile"); p.add_argument("--bind")
a, _ = p.parse_known_args()
host, _, port = a.bind.rpartition(":")
srv = xs.Xpum1Rest(tls=False, rest_conf_text=open("conf/rest.conf").read())
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.certfile, a.keyfile)
srv._ssl_ctx, srv.tls = ctx, True
xs._Server((host.strip("[]"), int(port)), xs._Handler, srv).serve_forever()
'''
UNIT_REST = """[Unit]
Description=XPUM_Rest daemon (test stand-in)
After=xpum.service
[Service]
Type=simple
User=xpum
WorkingDirectory=/usr/lib/xpum/rest/
ExecStart=gunicorn --certfile conf/cert.pem --keyfile conf/key.pem --bind 0.0.0.0:30000 -w 1 'xpum_rest_main:main()'
[Install]
WantedBy=multi-user.target
"""
UNIT_DAEMON = """[Unit]
Description=XPUM daemon (test stand-in)
[Service]
ExecStart=/usr/bin/xpumd
[Install]
WantedBy=multi-user.target
"""
POSTINST = """#!/bin/sh
set -e
getent passwd xpum >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin xpum
if [ -d /run/systemd/system ]; then systemctl daemon-reload; systemctl enable --now xpum.service; fi
"""


def build_standin_deb(tmp):
    """A .deb named xpumanager standing in for the real 1.x package (unreachable here): same unit names,
    same xpum_rest command line (gunicorn is a shim that serves tests/support/xpum_standins.Xpum1Rest)."""
    root = tmp / "xpumanager-standin"
    files = {
        "DEBIAN/control": "Package: xpumanager\nVersion: 1.2.99~standin\nArchitecture: all\nDepends: python3, passwd\n"
                          "Maintainer: xpu-ops tests <tests@invalid>\nDescription: XPU Manager test stand-in\n",
        "DEBIAN/postinst": POSTINST,
        "usr/bin/gunicorn": SHIM,
        "usr/bin/xpumd": "#!/bin/sh\nexec sleep infinity\n",
        "usr/lib/systemd/system/xpum_rest.service": UNIT_REST,
        "usr/lib/systemd/system/xpum.service": UNIT_DAEMON,
        "usr/lib/xpum/rest/xpum_standins.py": (HERE / "xpum_standins.py").read_text(),
    }
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        f.chmod(0o755 if rel.startswith(("usr/bin", "DEBIAN/postinst")) else 0o644)
    deb = tmp / "xpumanager_1.2.99~standin_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True, capture_output=True)
    return deb
