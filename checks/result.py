"""The check result and the check registry."""
PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
_RANK = {PASS: 0, SKIP: 0, WARN: 1, FAIL: 2}


class Result:
    __slots__ = ("id", "status", "title", "detail", "remedy", "evidence")

    def __init__(self, id, status, title, detail="", remedy="", evidence=None):  # noqa: A002
        self.id, self.status, self.title = id, status, title
        self.detail, self.remedy, self.evidence = detail, remedy, evidence if evidence is not None else {}

    def as_dict(self):
        return {"id": self.id, "status": self.status, "title": self.title, "detail": self.detail,
                "remedy": self.remedy if self.status in (WARN, FAIL) else "", "evidence": self.evidence}


def worst(statuses):
    """The worst of several per-item statuses (fail > warn > pass)."""
    statuses = list(statuses)
    if not statuses:
        return PASS
    return max(statuses, key=lambda s: _RANK[s])


# id -> (function, title, layer); filled by @check in checks/rules.py, in report order.
REGISTRY = {}


def check(check_id, title, layer):
    """Register a check: a small pure function facts -> (status, detail, remedy, evidence)."""
    def deco(fn):
        REGISTRY[check_id] = (fn, title, layer)
        fn.check_id = check_id
        return fn
    return deco
