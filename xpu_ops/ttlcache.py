"""TTLCache: key -> value (or the exception) for a while; concurrent askers share one computation.
(Moved out of xpu_ops.monitor, which still exports it, to keep that module small.)"""

import threading
import time
from concurrent.futures import Future


class TTLCache:
    """key -> value (or the exception) for ``ttl`` seconds. Callers asking for a key that is being
    computed wait for that one computation instead of starting another (a burst of polls at expiry
    costs one upstream round)."""

    def __init__(self, ttl, clock=time.monotonic):
        self.ttl = float(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict = {}  # key -> [Future, finished_at or None while running]

    def get(self, key, compute):
        with self._lock:
            now = self._clock()
            entry = self._entries.get(key)
            owner = entry is None or (entry[1] is not None and now - entry[1] >= self.ttl)
            if owner:
                self._prune(now)
                entry = [Future(), None]
                self._entries[key] = entry
        fut = entry[0]
        if owner:
            try:
                fut.set_result(compute())
            except BaseException as e:  # waiters get it too (an interrupt must not leave them hanging)
                fut.set_exception(e)
            finally:
                with self._lock:
                    entry[1] = self._clock()
        return fut.result()

    def running(self, key) -> bool:
        """True while ``key`` is being computed."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and entry[1] is None

    def peek(self, key, default=None):
        """The fresh, successful value of ``key`` without computing anything; else ``default``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] is None or self._clock() - entry[1] >= self.ttl:
                return default
        if entry[0].exception() is not None:
            return default
        return entry[0].result()

    def invalidate(self, key=None):
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def _prune(self, now):
        for k in [k for k, (_, t) in self._entries.items() if t is not None and now - t >= self.ttl]:
            del self._entries[k]
