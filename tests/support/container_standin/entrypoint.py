"""Entrypoint of the XPU Manager stand-in image (tests only): the stand-in servers of
``tests/support/xpum_standins.py`` behind the real images' interface.

The image is built by ``tests/test_container.py`` from the cached Debian rootfs; it holds this
file and ``xpum_standins.py`` in ``/opt/xpum-standin``. Nothing in the product refers to it.

* No arguments: 1.x, as ``intel/xpumanager``'s ``/entry_point.sh``: ``XPUM_REST_HOST``
  (0.0.0.0), ``XPUM_REST_PORT`` (29999), TLS from ``/usr/lib/xpum/rest/conf/{cert,key}.pem``
  unless ``XPUM_REST_NO_TLS=1``, Basic auth from ``rest.conf`` there (missing: exit, as upstream
  "No rest.conf found"), ``XPUM_EXPORTER_NO_AUTH=1``, ``XPUM_EXPORTER_ONLY=1``. A failed login
  sleeps ``2**n`` seconds as upstream (``XPUM_STANDIN_LOGIN_SLEEP_UNIT`` scales the second).
* ``--config FILE``: 2.x, as ``xpumd``: the Prometheus exporter on
  ``exporters.prometheus.endpoint`` of that YAML (default ``0.0.0.0:8080``), plain HTTP.
"""
import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xpum_standins as xs  # noqa: E402

CONF_DIR = "/usr/lib/xpum/rest/conf"


def _serve(standin, host, port, cert=None, key=None):
    """Like _Standin.start, but on a fixed address and in the foreground (PID 1's child)."""
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        standin._ssl_ctx = ctx
        standin.tls = True
    standin._stopping.clear()
    standin._server = xs._Server((host, port), xs._Handler, standin)
    standin._port = standin._server.server_address[1]
    print("xpumanager-standin: %s on %s:%d%s" % (type(standin).__name__, host, port, " (TLS)" if cert else ""),
          flush=True)
    standin._server.serve_forever(poll_interval=0.2)


def _endpoint(config_path):
    host_port = "0.0.0.0:8080"
    with open(config_path) as f:
        for line in f:
            k, _, v = line.strip().partition(":")
            if k == "endpoint":
                host_port = v.strip().strip("\"'")
    host, _, port = host_port.rpartition(":")
    return host.strip("[]"), int(port)


def main(argv):
    if argv[:1] == ["--config"]:
        host, port = _endpoint(argv[1])
        return _serve(xs.Xpum2Exporter(), host, port)
    env = os.environ
    no_auth = env.get("XPUM_EXPORTER_NO_AUTH") == "1"
    conf_text = None
    if not no_auth:
        try:
            with open(os.path.join(CONF_DIR, "rest.conf")) as f:
                conf_text = f.read()
        except OSError:
            print("No rest.conf found", file=sys.stderr)
            return 1
    srv = xs.Xpum1Rest(tls=False, rest_conf_text=conf_text if conf_text is not None else xs.standin_rest_conf(),
                       exporter_no_auth=no_auth, exporter_only=env.get("XPUM_EXPORTER_ONLY") == "1",
                       login_sleep_unit=float(env.get("XPUM_STANDIN_LOGIN_SLEEP_UNIT", "1")))
    tls = env.get("XPUM_REST_NO_TLS") != "1"
    return _serve(srv, env.get("XPUM_REST_HOST", "0.0.0.0"), int(env.get("XPUM_REST_PORT", "29999")),
                  *((os.path.join(CONF_DIR, "cert.pem"), os.path.join(CONF_DIR, "key.pem")) if tls else ()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
