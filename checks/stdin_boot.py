"""Run the checks zipapp from its bytes on stdin, in memory: nothing is written on the host.

    python3 -I -c "$(cat checks/stdin_boot.py)" [verify options] < xpu-ops-checks.pyz

How ``xpu_ops.remote`` (over ssh, raw bytes) and ``playbooks/verify.yml`` (Ansible's command module,
whose stdin is text: base64) run the checks on a host; they send this file itself as a first line of
base64 on the same stdin, run by ``xpu_ops.zipapp.LOADER``, and a line of the checks compiled by the
control host's python (``<bytecode magic, hex> <base64 of zlib(marshal)>``, or ``-``): a host whose
python has the same magic runs that code instead of compiling the sources (the larger part of the
checks' start-up); any other compiles the sources from the archive. The archive is read with zlib
alone (no ``zipfile``: it costs more to import than the checks take to run), its modules are served to the
import system from memory (``__file__`` is ``/<stdin>/checks/...``; ``__loader__.get_data`` gives the
package's data files) and compiled only when imported; then ``checks.cli.main`` runs with the options
given: the same CLI, output and exit codes as ``python -m checks``.

It loads the checks package, so it imports none of it; it must parse on any python3 (and python2) so
that an old one gets the one-line error below instead of a SyntaxError.
"""
import binascii
import sys

PREFIX = "/<stdin>/"
MIN_PYTHON = (3, 9)
ERROR = "xpu-ops verify: error: "


def _u16(data, at):
    return data[at] | data[at + 1] << 8


def _u32(data, at):
    return _u16(data, at) | _u16(data, at + 2) << 16


def members(data):
    """{name: (method, raw bytes)} of a zip archive (stored or deflated members), from its central directory."""
    end = data.rfind(b"PK\x05\x06")
    if end < 0 or len(data) < end + 22:
        raise ValueError("not a zip archive")
    count, pos = _u16(data, end + 10), _u32(data, end + 16)
    out = {}
    for _ in range(count):
        if data[pos:pos + 4] != b"PK\x01\x02":
            raise ValueError("damaged zip archive")
        method, size, name_len = _u16(data, pos + 10), _u32(data, pos + 20), _u16(data, pos + 28)
        skip, offset = name_len + _u16(data, pos + 30) + _u16(data, pos + 32), _u32(data, pos + 42)
        name = data[pos + 46:pos + 46 + name_len].decode("utf-8")
        pos += 46 + skip
        start = offset + 30 + _u16(data, offset + 26) + _u16(data, offset + 28)
        if method not in (0, 8):
            raise ValueError("%s: compression method %d" % (name, method))
        out[name] = (method, data[start:start + size])
    return out


class MemoryImporter(object):
    """Finder and loader of the modules in ``files`` ({"checks/x.py": (method, raw)}), from memory."""

    def __init__(self, files, code=None):
        self.files = files
        self.code = code or {}      # {"checks/x.py": marshalled code} for this python's magic

    def get_data(self, path):
        name = path[len(PREFIX):] if path.startswith(PREFIX) else None
        if name not in self.files:
            raise FileNotFoundError(path)
        method, raw = self.files[name]
        if method == 8:
            import zlib
            return zlib.decompress(raw, -15)
        return raw

    def _where(self, fullname):
        base = fullname.replace(".", "/")
        if base + "/__init__.py" in self.files:
            return base + "/__init__.py", True
        if base + ".py" in self.files:
            return base + ".py", False
        return None, False

    def find_spec(self, fullname, path=None, target=None):
        name, package = self._where(fullname)
        if name is None:
            return None
        from importlib.machinery import ModuleSpec
        spec = ModuleSpec(fullname, self, origin=PREFIX + name, is_package=package)
        spec.has_location = True
        if package:
            spec.submodule_search_locations = [PREFIX + name.rsplit("/", 1)[0]]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = module.__spec__.origin
        name = path[len(PREFIX):]
        if name in self.code:
            import marshal
            code = marshal.loads(self.code[name])
        else:
            code = compile(self.get_data(path), path, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def is_package(self, fullname):
        return self._where(fullname)[1]

    def get_source(self, fullname):      # tracebacks (linecache) show the lines
        name = self._where(fullname)[0]
        return None if name is None else self.get_data(PREFIX + name).decode("utf-8")


def precompiled(line):
    """{name: marshalled code} from the code line, when it was compiled for this python's bytecode; else {}."""
    magic, _, text = line.strip().partition(b" ")
    try:
        from importlib._bootstrap_external import MAGIC_NUMBER
    except ImportError:
        return {}
    if not text or magic != binascii.hexlify(MAGIC_NUMBER):
        return {}
    import marshal
    import zlib
    return marshal.loads(zlib.decompress(binascii.a2b_base64(text)))


def main():
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write(ERROR + "python %d.%d on this host is too old (xpu-ops needs %d.%d or later; "
                         "give --interpreter PATH)\n" % (tuple(sys.version_info[:2]) + MIN_PYTHON))
        return 2
    data, code = sys.stdin.buffer.read(), {}
    try:
        if not data.startswith(b"PK"):        # the code line, then the archive (raw, or base64 text)
            line, _, data = data.partition(b"\n")
            code = precompiled(line)
            if not data.startswith(b"PK"):
                data = binascii.a2b_base64(data)
        files = members(data)
    except Exception as e:                    # damaged input: binascii.Error, zlib.error, marshal's ValueError...
        sys.stderr.write(ERROR + "the checks did not arrive on stdin (%s)\n" % e)
        return 2
    if "checks/cli.py" not in files:
        sys.stderr.write(ERROR + "the archive on stdin holds no checks package\n")
        return 2
    sys.meta_path.insert(0, MemoryImporter(files, code))
    from checks.cli import main as checks_main
    return checks_main()


if __name__ == "__main__":
    sys.exit(main())
