"""The checks, one module per layer of the stack: a check's layer is the module it lives in.

A check is a small pure function, facts in, (status, detail, remedy, evidence) out; remedies are commands a
person can paste. To add one, write it in the module of its layer:

    @check("xpum.api", "XPU Manager API answers", needs=("platform", "pci", "services", "xpum"))
    def xpum_api(f): ...

``needs`` names the facts it reads (the keys of ``checks.engine.FACTS``); every facts dict also carries
``CONTEXT`` (the options). The engine gathers exactly the facts the selected checks need. Checks run, and are
listed in the JSON, --list and JUnit reports, in the order of ``MODULES`` and within a module in the order of
definition; the text report groups them under their layer's heading, in the order of ``LAYERS``.
"""

# The layer headings of the text report, in order; each module's LAYER is one of them.
LAYERS = ("Host", "Kernel", "User space", "XPU Manager")
# The layer modules, in check order.
MODULES = ("host", "kernel", "kernel_log", "userspace", "levelzero", "xpum", "frameworks", "wsl2")
# In every facts dict besides the facts a check needs: the options the checks quote.
CONTEXT = ("root", "host_name")

REGISTRY = {}  # id -> Check, in check order


class Check:
    __slots__ = ("id", "title", "layer", "needs", "fn")

    def __init__(self, check_id, title, layer, needs, fn):
        self.id, self.title, self.layer, self.needs, self.fn = check_id, title, layer, needs, fn

    def __repr__(self):
        return "Check(%r, layer=%r, needs=%r)" % (self.id, self.layer, self.needs)


def check(check_id, title, needs=()):
    """Register a check under the layer of the module it is defined in (its LAYER)."""
    def deco(fn):
        layer = fn.__globals__.get("LAYER")
        if layer not in LAYERS:
            raise ValueError("check %s: module %s has LAYER %r, not one of %s" % (
                check_id, fn.__module__, layer, ", ".join(LAYERS)))
        if check_id in REGISTRY:
            raise ValueError("check %s registered twice" % check_id)
        REGISTRY[check_id] = Check(check_id, title, layer, tuple(needs), fn)
        fn.check_id = check_id
        return fn
    return deco


for _name in MODULES:
    __import__("checks.rules." + _name)
del _name
