"""A check's result and the statuses (the registry is checks.rules)."""
PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
_RANK = {PASS: 0, SKIP: 0, WARN: 1, FAIL: 2}


class Result:
    __slots__ = ("id", "status", "title", "detail", "remedy", "evidence", "layer")

    def __init__(self, id, status, title, detail="", remedy="", evidence=None, layer=None):  # noqa: A002
        self.id, self.status, self.title = id, status, title
        self.detail, self.remedy, self.evidence = detail, remedy, evidence if evidence is not None else {}
        self.layer = layer

    def as_dict(self):
        return {"id": self.id, "status": self.status, "title": self.title, "detail": self.detail,
                "remedy": self.remedy if self.status in (WARN, FAIL) else "", "evidence": self.evidence,
                "layer": self.layer}


def worst(statuses):
    """The worst of several per-item statuses (fail > warn > pass)."""
    statuses = list(statuses)
    if not statuses:
        return PASS
    return max(statuses, key=lambda s: _RANK[s])

