"""Action plugin: read the facts the roles decide on with the checks' own code, on the host.

The checks zipapp (``checks.zipapp_build``, the archive verify ships) is copied into Ansible's
remote temp folder, run as ``python3 checks.pyz --facts`` and removed with the folder: one reader
of host facts (``checks.role_facts``: the checks' platform and PCI facts, Secure Boot, kernel
headers, render nodes), no second set of WSL/container rules. Read-only, so it runs in check mode
too, and it never reports a change. Documentation: plugins/modules/xpu_ops_host_facts.py.
"""
import json
import os
import shlex
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_AUTO = ("auto", "auto_legacy", "auto_silent", "auto_legacy_silent")


def _zipapp():
    """Path of the checks zipapp, built from this checkout (cached by content)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    try:
        try:
            from xpu_ops import zipapp as builder  # noqa: PLC0415  (the control host's checkout)
        except ImportError:
            from checks import zipapp_build as builder  # noqa: PLC0415  (before the builder moved to xpu_ops)
        return str(builder.build())
    except Exception as e:  # the build's own errors, one line
        raise AnsibleActionFail("xpu_ops_host_facts: cannot build the checks zipapp: %s" % e) from None


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("root", "python"))

    def _python(self, task_vars):
        """The host's python: the task's, else the inventory's, else the one Ansible discovered, else python3."""
        if self._task.args.get("python"):
            return self._task.args["python"]
        configured = task_vars.get("ansible_python_interpreter")
        if configured:
            configured = self._templar.template(configured)
            if configured and configured not in _AUTO:
                return configured
        return (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python") or "python3"

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        root = self._task.args.get("root") or "/"
        local = _zipapp()
        shell = self._connection._shell
        tmpdir = shell.tmpdir or self._make_tmp_path()
        remote = shell.join_path(tmpdir, "xpu-ops-checks.pyz")
        try:
            self._transfer_file(local, remote)
            self._fixup_perms2((tmpdir, remote))
            argv = shlex.split(self._python(task_vars)) + [remote, "--facts", "--root", root]  # "/usr/bin/env python3"
            res = self._low_level_execute_command(" ".join(shlex.quote(a) for a in argv), sudoable=True)
        finally:
            self._remove_tmp_path(tmpdir)
        if res.get("rc") != 0:
            why = (res.get("stderr") or res.get("stdout") or "").strip().splitlines()
            raise AnsibleActionFail("xpu_ops_host_facts: the checks could not read the host (exit %s)%s"
                                    % (res.get("rc"), ": " + why[-1] if why else ""))
        try:
            facts = json.loads(res.get("stdout") or "")
        except ValueError:
            raise AnsibleActionFail("xpu_ops_host_facts: the checks printed no JSON facts") from None
        result.update(facts)
        result["changed"] = False
        return result
