"""Action plugin: read the facts the roles decide on with the checks' own code, on the host.

The checks zipapp (``xpu_ops.zipapp``) runs on the host the way verify.yml and ``invoke verify --host``
run it: ``python3 -E -s -c LOADER --facts`` with the archive on stdin, imported from memory (no file of
the checks is written there): on the connection's stdin where Ansible pipelines modules, else through the
command module as verify.yml does. One reader of host facts
(``checks.role_facts``: the checks' platform and PCI facts, Secure Boot, kernel headers, render nodes),
no second set of WSL/container rules. Read-only, so it runs in check mode too, and it never reports a
change. Documentation: plugins/modules/xpu_ops_host_facts.py.
"""
import json
import os
import shlex
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_AUTO = ("auto", "auto_legacy", "auto_silent", "auto_legacy_silent")


def _runner():
    """(python arguments, zipapp path, module) that run the checks zipapp from memory: xpu_ops.zipapp's,
    built from this checkout (cached by content)."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    try:
        from xpu_ops import zipapp  # noqa: PLC0415  (the control host's checkout)

        return [*zipapp.PYTHON_FLAGS, "-c", zipapp.LOADER], zipapp.build(), zipapp
    except Exception as e:  # the build's own errors, one line
        raise AnsibleActionFail("xpu_ops_host_facts: cannot build the checks zipapp: %s" % e) from None


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("root", "python", "state"))

    def _python(self, task_vars):
        """The host's python: the task's, else the inventory's, else ansible.cfg's interpreter_python, else the one
        Ansible discovered, else python3."""
        if self._task.args.get("python"):
            return self._task.args["python"]
        configured = task_vars.get("ansible_python_interpreter")
        if configured:
            configured = self._templar.template(configured)
            if configured and configured not in _AUTO:
                return configured
        try:
            from ansible import constants as C  # noqa: PLC0415
            configured = C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        except Exception:  # an ansible-core that names it otherwise: discovery's answer below
            configured = None
        if configured and configured not in _AUTO:
            return configured
        return (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python") or "python3"

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        python_args, pyz, zipapp = _runner()
        argv = shlex.split(self._python(task_vars)) + python_args + ["--facts", "--root",
                                                                      self._task.args.get("root") or "/"]
        query = self._task.args.get("state")
        if query:
            if not isinstance(query, dict):
                raise AnsibleActionFail("xpu_ops_host_facts: state must be a dict (users, groups, files, dpkg)")
            argv += ["--facts-state", json.dumps(query, sort_keys=True)]
        if self._is_pipelining_enabled("new"):
            # Where Ansible pipelines modules (their code on stdin, under become too), the archive goes the same way.
            res = self._low_level_execute_command(" ".join(shlex.quote(a) for a in argv), sudoable=True,
                                                  in_data=zipapp.stdin_bytes(pyz))
        else:       # else as verify.yml runs it: the command module, the archive as base64 text on its stdin
            check_mode, self._task.check_mode = self._task.check_mode, False   # read-only: it runs in check mode too
            try:
                res = self._execute_module(module_name="ansible.legacy.command", task_vars=task_vars,
                                           module_args={"argv": argv, "stdin": zipapp.stdin_text(pyz).read_text(),
                                                        "stdin_add_newline": False})
            finally:
                self._task.check_mode = check_mode
                self._remove_tmp_path(self._connection._shell.tmpdir)
        if res.get("rc") != 0:
            why = (res.get("stderr") or res.get("msg") or res.get("stdout") or "").strip().splitlines()
            raise AnsibleActionFail("xpu_ops_host_facts: the checks could not read the host (exit %s)%s"
                                    % (res.get("rc"), ": " + why[-1] if why else ""))
        try:
            facts = json.loads(res.get("stdout") or "")
        except ValueError:
            raise AnsibleActionFail("xpu_ops_host_facts: the checks printed no JSON facts") from None
        result.update(facts)
        result["changed"] = False
        return result
