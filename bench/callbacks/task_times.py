"""Callback for bench/reprovision_bench.py: wall time of every task (summed over hosts and loop items), and the
number of module runs on the hosts (results that were not skipped, of actions that do not run on the controller
alone), written as JSON to $XPU_OPS_TASK_TIMES at the end of the run. Not used by the product."""
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    LOCAL = {"set_fact", "debug", "assert", "fail", "include_role", "include_tasks", "import_role", "import_tasks",
             "include_vars", "validate_argument_spec", "meta", "set_stats", "add_host", "group_by"}

    def __init__(self):
        super().__init__()
        self._times, self._current, self._start, self._remote = {}, None, None, 0

    def _count(self, result):
        action = result._task.action.rsplit(".", 1)[-1]
        if action not in self.LOCAL and not result._result.get("skipped"):
            self._remote += 1

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_item_on_ok(self, result):
        self._count(result)

    def _close(self):
        if self._current is not None:
            self._times[self._current] = self._times.get(self._current, 0.0) + time.monotonic() - self._start
            self._current = None

    def _open(self, name):
        self._close()
        self._current, self._start = name, time.monotonic()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open("%s | %s" % (task.get_path() or "", task.get_name()))

    def v2_playbook_on_handler_task_start(self, task):
        self._open("handler | %s" % task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("XPU_OPS_TASK_TIMES")
        if path:
            with open(path, "w") as f:
                json.dump({"tasks": self._times, "remote_calls": self._remote}, f)
