# -*- coding: utf-8 -*-
"""A callback for the tests: every task result as one JSON line in $QRDR_TEST_RESULTS_FILE.

ansible-core has no JSON stdout callback of its own (ansible.builtin.json redirects to ansible.posix,
not installed offline); the tests keep the default stdout callback, whose -vvv output they search for
secrets, and read the results from this file. The result is written as Ansible shows it: no_log
values already censored.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_results
type: aggregate
short_description: write each task result as a JSON line (qrdr's tests)
description:
  - Appends one JSON object per task result (host, task, status, result) to the file named by the environment variable C(QRDR_TEST_RESULTS_FILE).
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_results"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, outcome, result):
        line = {"host": result._host.get_name(), "task": result._task.get_name(), "outcome": outcome,
                "result": result._result}
        with open(os.environ["QRDR_TEST_RESULTS_FILE"], "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)
