"""One configurable root for every read of the host (/sys, /dev, /proc, /etc, /lib, /usr, /var).

A check runs against `/`, a mounted image or a recorded tree alike. Under a root other than `/` every
path goes through one resolver (`_at`): it walks the path a directory at a time with file descriptors
(openat, O_NOFOLLOW), re-roots absolute symlink targets and never lets `..` climb above the root, so a
tree we do not control cannot make us read outside it, not even by swapping a directory for a link while
we walk. Contents are read from regular files only, opened non-blocking (a FIFO or device where a file
is expected reads as absent instead of hanging).
"""
import errno
import os
import stat

_MAX_LINKS = 40
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# O_PATH: a directory we may only traverse (mode 0711) still opens; Linux-only, O_RDONLY elsewhere.
_DIR = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_FILE = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC
_LIST = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC


def _direct(fn, p):
    """fn(p) on the real root; None on OSError (absent, unreadable) or ValueError (a NUL in p)."""
    try:
        return fn(p)
    except (OSError, ValueError):
        return None


def _read_fd(fd, limit):
    """A regular file's content (bytes, at most `limit`), else None."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return None
    with open(fd, "rb", closefd=False) as f:
        size = st.st_size  # a regular file's; 0 or a page for /proc and /sys
        return f.read(min(limit, size + 1) if size > 4096 else limit)


class HostRoot:
    def __init__(self, path="/"):
        self.base = os.path.abspath(path)
        self.is_real = self.base == "/"

    def path(self, p):
        """Host path `p` (absolute, as on the host) -> path on this machine, for messages: reads go
        through `_at`, which resolves links inside the root."""
        rel = p.lstrip("/")
        return os.path.join(self.base, rel) if rel else self.base

    # ------------------------------------------------------------------ the one resolver

    def _walk(self, p, follow):
        """(fds, name, host path): fds[-1] is the directory holding `name`, every link before it resolved
        inside the root (and `name` too when `follow`). Raises OSError when a directory on the way is
        missing or not a directory, or links loop. The caller closes fds."""
        parts = [x for x in p.split("/") if x not in ("", ".")]
        fds, names, hops = [os.open(self.base, _DIR)], [], 0
        try:
            while parts:
                name = parts.pop(0)
                if name == "..":
                    if len(fds) > 1:
                        os.close(fds.pop())
                        names.pop()
                    continue
                last = not parts
                if follow or not last:
                    try:
                        target = os.readlink(name, dir_fd=fds[-1])
                    except OSError as e:
                        if not last and e.errno != errno.EINVAL:
                            raise
                        target = None
                    if target is not None:
                        hops += 1
                        if hops > _MAX_LINKS:
                            raise OSError(errno.ELOOP, "too many links")
                        if target.startswith("/"):
                            while len(fds) > 1:
                                os.close(fds.pop())
                            names = []
                        parts = [x for x in target.split("/") if x not in ("", ".")] + parts
                        continue
                if last:
                    return fds, name, "/" + "/".join(names + [name])
                fds.append(os.open(name, _DIR, dir_fd=fds[-1]))  # O_NOFOLLOW: a link swapped in fails here
                names.append(name)
            return fds, ".", "/" + "/".join(names)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def _at(self, p, op, follow=True):
        """op(dir_fd, name) on host path `p` inside the root; None on any OSError."""
        try:
            fds, name, _ = self._walk(p, follow)
        except (OSError, ValueError):
            return None
        try:
            return op(fds[-1], name)
        except (OSError, ValueError):
            return None
        finally:
            for fd in fds:
                os.close(fd)

    def resolve(self, p):
        """Resolve symlinks of host path `p` inside the root; returns a host path (None on a loop, or when a
        directory on the way is missing)."""
        try:
            fds, _, host = self._walk(p, True)
        except (OSError, ValueError):
            return None
        for fd in fds:
            os.close(fd)
        return host

    # ------------------------------------------------------------------ reads

    def lstat(self, p):
        if self.is_real:
            return _direct(os.lstat, p)
        return self._at(p, lambda d, n: os.stat(n, dir_fd=d, follow_symlinks=False), follow=False)

    def stat(self, p):
        if self.is_real:
            return _direct(os.stat, p)
        return self._at(p, lambda d, n: os.stat(n, dir_fd=d, follow_symlinks=False))

    def exists(self, p):
        return self.stat(p) is not None

    def lexists(self, p):
        return self.lstat(p) is not None

    def is_dir(self, p):
        st = self.stat(p)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def is_link(self, p):
        st = self.lstat(p)
        return st is not None and stat.S_ISLNK(st.st_mode)

    def is_char_device(self, p):
        st = self.stat(p)
        return st is not None and stat.S_ISCHR(st.st_mode)

    def readlink(self, p):
        if self.is_real:
            return _direct(os.readlink, p)
        return self._at(p, lambda d, n: os.readlink(n, dir_fd=d), follow=False)

    def link_target_exists(self, p):
        return self.exists(p)

    def read(self, p, limit=1 << 20):
        """Text content, or None when absent/unreadable/not a regular file. Never raises."""
        data = self.read_bytes(p, limit)
        return None if data is None else data.decode("utf-8", "replace")

    def read_bytes(self, p, limit=1 << 20):
        """Content of a regular file as bytes, or None when absent/unreadable/not a regular file. Never raises."""
        if self.is_real:
            fd = _direct(lambda x: os.open(x, _FILE), p)
        else:
            fd = self._at(p, lambda d, n: os.open(n, _FILE | _NOFOLLOW, dir_fd=d))
        if fd is None:
            return None
        try:
            return _read_fd(fd, limit)
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)

    def read_line(self, p):
        t = self.read(p, 4096)
        return None if t is None else t.strip()

    def listdir(self, p):
        if self.is_real:
            return sorted(_direct(os.listdir, p) or [])

        def names(d, n):
            fd = os.open(n, _LIST, dir_fd=d)
            try:
                return sorted(os.listdir(fd))
            finally:
                os.close(fd)
        return self._at(p, names) or []
