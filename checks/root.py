"""One configurable root for every read of the host (/sys, /dev, /proc, /etc, /lib, /usr, /var).

A check runs against `/`, a mounted image or a recorded tree alike. Symlinks are resolved
inside the root: an absolute link target is re-rooted, `..` never climbs above the root.
"""
import os
import stat

_MAX_LINKS = 40


class HostRoot:
    def __init__(self, path="/"):
        self.base = os.path.abspath(path)
        self.is_real = self.base == "/"

    def path(self, p):
        """Host path `p` (absolute, as on the host) -> path on this machine."""
        rel = p.lstrip("/")
        return os.path.join(self.base, rel) if rel else self.base

    def resolve(self, p):
        """Resolve symlinks of host path `p` inside the root; returns a host path (or None on a loop)."""
        parts = [x for x in p.split("/") if x]
        done = []
        hops = 0
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            if name == "..":
                if done:
                    done.pop()
                continue
            cand = "/" + "/".join(done + [name])
            real = self.path(cand)
            if os.path.islink(real):
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = os.readlink(real)
                if target.startswith("/"):
                    done = []
                parts = [x for x in target.split("/") if x] + parts
                continue
            done.append(name)
        return "/" + "/".join(done)

    def exists(self, p):
        return os.path.exists(self.path(p))

    def lexists(self, p):
        return os.path.lexists(self.path(p))

    def is_dir(self, p):
        return os.path.isdir(self.path(p))

    def is_link(self, p):
        return os.path.islink(self.path(p))

    def readlink(self, p):
        try:
            return os.readlink(self.path(p))
        except OSError:
            return None

    def link_target_exists(self, p):
        r = self.resolve(p)
        return r is not None and os.path.exists(self.path(r))

    def read(self, p, limit=1 << 20):
        """Text content, or None when absent/unreadable. Never raises."""
        data = self.read_bytes(p, limit)
        return None if data is None else data.decode("utf-8", "replace")

    def read_bytes(self, p, limit=1 << 20):
        """Content as bytes, or None when absent/unreadable. Never raises."""
        try:
            with open(self.path(p), "rb") as f:
                size = os.fstat(f.fileno()).st_size  # a regular file's; 0 or a page for /proc and /sys
                return f.read(min(limit, size + 1) if size > 4096 else limit)
        except (OSError, ValueError):
            return None

    def read_line(self, p):
        t = self.read(p, 4096)
        return None if t is None else t.strip()

    def listdir(self, p):
        try:
            return sorted(os.listdir(self.path(p)))
        except OSError:
            return []

    def lstat(self, p):
        try:
            return os.lstat(self.path(p))
        except OSError:
            return None

    def stat(self, p):
        try:
            return os.stat(self.path(p))
        except OSError:
            return None

    def is_char_device(self, p):
        st = self.stat(p)
        return st is not None and stat.S_ISCHR(st.st_mode)
