"""Stand-in for PyTorch XPU (see README.md in the folder above): torch.version.xpu, torch.xpu.*, torch.ones."""
import ctypes
import json
import os
import types

_CFG = json.loads(os.environ.get("XPUOPS_TORCH_STANDIN", "{}"))
__version__ = _CFG.get("version", "2.8.0+xpu")
version = types.SimpleNamespace(xpu=_CFG.get("xpu", "20250101"))
_LIBS = [ctypes.CDLL(p) for p in _CFG.get("load", [])]  # mapped, as a wheel's runtime is


class _T:
    def __init__(self, n):
        self.n = n

    def __mul__(self, k):
        return _T(self.n * k)

    def sum(self):
        return self

    def item(self):
        return float(self.n)


def ones(n, device=None):
    return _T(n)


class _XPU:
    @staticmethod
    def is_available():
        return bool(_CFG.get("names"))

    @staticmethod
    def device_count():
        return len(_CFG.get("names", []))

    @staticmethod
    def get_device_name(i):
        return _CFG["names"][i]

    @staticmethod
    def mem_get_info(i=0):
        return tuple(_CFG.get("mem", [15 << 30, 16 << 30]))


xpu = _XPU()
