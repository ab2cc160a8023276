"""Decide on the controller whether a file task would change the host, from the state the host facts module
read in the same round trip as the GPUs (checks/role_facts.py ``state``).

A role's file, template and copy tasks each cost a round trip to the host even when nothing is to change
(the module compares checksums there). With this filter such a task runs only where the host's file differs
from what the task writes: content (sha1 of the rendered text), kind, mode, owner. Anything not read, not a
regular file, too large to checksum or unreadable "differs", so the task runs and decides as before: the
filter can only save a round trip, never skip a change.
"""
import hashlib

from ansible.errors import AnsibleFilterError


def host_file_differs(state, path, content=None, mode="0644", uid=0, gid=0, kind="file"):
    """True unless the state read (xpu_ops_host_facts' ``state``) saw `path` as a `kind` with this mode and owner,
    and for a file exactly this content (text, written as UTF-8 as the template and copy modules write it)."""
    if kind not in ("file", "dir"):
        raise AnsibleFilterError("host_file_differs: kind must be file or dir, got %r" % (kind,))
    if kind == "file" and content is None:
        raise AnsibleFilterError("host_file_differs: a file needs its content")
    files = state.get("files") if isinstance(state, dict) else None
    seen = files.get(path) if isinstance(files, dict) else None
    if not isinstance(seen, dict) or not seen.get("exists") or seen.get("kind") != kind:
        return True
    if str(seen.get("mode")) != "%04o" % int(str(mode), 8) or seen.get("uid") != uid or seen.get("gid") != gid:
        return True
    if kind == "dir":
        return False
    return seen.get("sha1") != hashlib.sha1(str(content).encode("utf-8")).hexdigest()


class FilterModule:
    def filters(self):
        return {"host_file_differs": host_file_differs}
