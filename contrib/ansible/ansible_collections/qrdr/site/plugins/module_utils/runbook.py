# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every qrdr.site module shares: the site options, opening qrdr's Runbook, running one
qrdr command (plan in check mode, resume of an unfinished run of the same command), and turning
qrdr's errors into ``fail_json`` with qrdr's own message (never a traceback).

The modules run on the controller (``connection: local``) with an interpreter that has qrdr
installed (``ansible_python_interpreter``); qrdr's Python API is ``qrdr.api.Runbook``
(docs/api.md in qrdr's repository).
"""

from __future__ import annotations

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import attrs
    from qrdr.api import Runbook
    from qrdr.config import load_site
    from qrdr.engine.runner import Reporter
    from qrdr.errors import QrdrError
    from qrdr.fleet import recovery_point as probed_recovery_point
    from qrdr.report import write_after_run
    from qrdr.secrets import mask, mask_value
except ImportError:
    QRDR_IMPORT_ERROR = traceback.format_exc()
    Reporter = object
else:
    QRDR_IMPORT_ERROR = None

#: Environment variables a site config may name in ``{ env = "..." }`` and ``secrets`` may set.
SECRET_PREFIX = "QRDR_"
#: Run statuses after which the module succeeds (qrdr.cli.RUN_STATUS_EXIT's exit 0).
SUCCEEDED = ("succeeded", "rolled back")
#: The window whose length is the RTO (qrdr.report.model.RTO_WINDOW).
RTO_WINDOW = "mail flowing"

#: The options every qrdr.site module takes (DOCUMENTATION: the modules' doc fragment of options).
SITE_ARGUMENT_SPEC = dict(
    config=dict(type="path", required=True),
    state_dir=dict(type="path"),
    secrets=dict(type="dict", no_log=True, default={}),
)
#: The options of the modules that run a command that changes the site.
RUN_ARGUMENT_SPEC = dict(
    SITE_ARGUMENT_SPEC,
    done=dict(type="list", elements="str", default=[]),
    overrides=dict(type="list", elements="str", default=[]),
    retry=dict(type="list", elements="str", default=[]),
)


class SiteModule:
    """One module run on one site: ``AnsibleModule`` with qrdr's site options; :meth:`open` gives
    the site's Runbook; :meth:`fail` ends the module with qrdr's words, secrets masked."""

    def __init__(self, argument_spec, **kwargs):
        self.module = AnsibleModule(argument_spec=argument_spec, **kwargs)
        self.params = self.module.params
        if QRDR_IMPORT_ERROR is not None:
            self.module.fail_json(msg=missing_required_lib("qrdr (in the interpreter the module runs with: "
                                                           "ansible_python_interpreter)"),
                                  exception=QRDR_IMPORT_ERROR)
        self.runbook = None

    def fail(self, message, **result):
        self.close()
        self.module.fail_json(msg=mask(str(message)), **result)

    def open(self, reporter=None):
        """Load the site config, set the ``secrets`` for this module process only, build the Runbook.
        A bad path, a bad config or a site the plugins refuse ends the module with qrdr's message."""
        self._set_secrets(self.params["secrets"] or {})
        config = self.params["config"]
        if not os.path.isfile(config):
            self.fail("config: %s is not a file (the site config, a qrdr.toml)" % config)
        try:
            site = load_site(config)
            if self.params["state_dir"]:
                site = attrs.evolve(site, state_dir=self.params["state_dir"])
            self.runbook = Runbook(site, reporter=reporter)
        except QrdrError as exc:
            self.fail(exc, error=type(exc).__name__)
        return self.runbook

    def _set_secrets(self, secrets):
        wrong = sorted(name for name in secrets if not str(name).startswith(SECRET_PREFIX))
        if wrong:
            self.fail("secrets: names must start with %s (the environment variables site configs refer to "
                      "with { env = \"...\" }): %s" % (SECRET_PREFIX, ", ".join(wrong)))
        for name, value in secrets.items():
            # Only this module's process: the secret is gone when the module exits.
            os.environ[name] = str(value)

    def guarded(self, action):
        """``action()``'s value; qrdr's errors and any other exception end the module with a message."""
        try:
            return action()
        except QrdrError as exc:
            self.fail(exc, error=type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a module answers with a message, never a traceback
            self.fail("%s: %s" % (type(exc).__name__, exc), error=type(exc).__name__)

    def close(self):
        if self.runbook is not None:
            runbook, self.runbook = self.runbook, None
            try:
                runbook.close()
            except Exception:  # noqa: BLE001 - the module's outcome matters more than a last goodbye
                pass


class PlanCapture(Reporter):
    """Keeps the plan a run acted on (for ``--diff`` and the recovery point) and the lines it said."""

    def __init__(self):
        self.plans = []
        self.lines = []

    def plan(self, plan):
        self.plans.append(plan)

    def step_started(self, step):
        pass

    def step_finished(self, step, result):
        self.lines.append("%s: %s in %.1fs" % (step.id, result.status, result.seconds))

    def progress(self, message):
        self.lines.append(message)

    def note(self, message):
        self.lines.append(message)

    def manual(self, step, check):
        self.lines.append("manual step %s (%s): %s" % (step.id, step.target, step.manual))


def changes_of(plan):
    """The lines of the steps that will change something (or may: "depends"), one per line."""
    return ["%s (%s): %s" % (planned.step.id, planned.step.target, line)
            for planned in plan.steps if planned.may_change for line in (planned.lines or ("",))]


def recovery_point(plan):
    """``{"recovery_point": ISO time, "age_hours": N}`` from the plan's probes (the last QR update
    that completed: the RPO), or None when no probe found one."""
    point, age = probed_recovery_point(plan)
    return None if point is None else {"recovery_point": point, "age_hours": age}


def plan_document(plan):
    """The plan as the modules return it (``Plan.to_dict()``, secrets masked)."""
    return mask_value(plan.to_dict())


def run_command(site, command, scope="recovery", require=None):
    """Run qrdr ``command`` on the site as one Ansible task.

    Check mode: qrdr's plan, nothing changed; ``changed`` when a step will (or may) change.
    Otherwise: an unfinished run of the same command is resumed (``resumed: true``), one of another
    command fails naming qrdr's next safe command; else the command runs with ``yes``. The run's
    report is written as ``qrdr`` writes it. ``require(runbook)``: a check of the module's own
    (promote's typed confirmation) made once the site is loaded, before anything is planned. A run that does not succeed fails the task with qrdr's
    message and the next safe command. Never returns (``exit_json``/``fail_json``).
    """
    module, params = site.module, site.params
    capture = PlanCapture()
    runbook = site.open(reporter=capture)
    if require is not None:
        require(runbook)
    status = site.guarded(runbook.status)
    if status["busy"]:
        site.fail("site %s is busy: %s; %s" % (status["site"], status["busy"], status["next"]), status=status)
    unfinished = status["resumable"]
    if unfinished and unfinished["command"] != command:
        site.fail("site %s: run %s (%s) is %s; finish it first, the next safe command: %s"
                  % (status["site"], unfinished["id"], unfinished["command"], unfinished["status"], status["next"]),
                  unfinished_run=unfinished, next_command=status["next"])
    if params["retry"] and not unfinished:
        site.fail("site %s: retry (%s) applies when the task resumes an unfinished run, and there is none; "
                  "nothing was done" % (status["site"], ", ".join(params["retry"])))
    if module.check_mode:
        plan = site.guarded(lambda: runbook.plan(command, scope=scope))
        changes = changes_of(plan)
        result = dict(changed=plan.will_change, command=command, plan=plan_document(plan), changes=changes,
                      blockers=plan.blockers, would_resume=unfinished["id"] if unfinished else None)
        if module._diff:
            result["diff"] = dict(prepared="\n".join(changes))
        site.close()
        if plan.blockers:
            module.fail_json(msg=mask("site %s: %s would be refused:\n  - %s"
                                      % (status["site"], command, "\n  - ".join(plan.blockers))), **result)
        module.exit_json(**result)
    if unfinished:
        ran = site.guarded(lambda: runbook.resume(yes=True, done=params["done"], overrides=params["overrides"],
                                                  retry=params["retry"]))
    else:
        ran = site.guarded(lambda: runbook.run(command, yes=True, scope=scope, done=params["done"],
                                               overrides=params["overrides"]))
    report, report_error = write_after_run(runbook.site, ran.run_id)
    state = site.guarded(runbook.state)
    changes = [line for plan in capture.plans for line in changes_of(plan)]
    point = next((found for found in map(recovery_point, capture.plans) if found), None)
    result = dict(
        changed=any(step.status == "done" for step in ran.steps) or bool(ran.undone),
        command=command, run_id=ran.run_id, state=ran.status, resumed=bool(unfinished),
        resumed_from=unfinished["id"] if unfinished else None,
        report=str(report) if report else None, report_error=report_error,
        windows=ran.windows, rto_seconds=ran.windows.get(RTO_WINDOW), rpo=point,
        # the vocabulary of qrdr's --json documents (qrdr.documents): step_id, state, duration_seconds
        steps=[dict(step_id=s.step_id, state=s.status, changes=list(s.changes), duration_seconds=round(s.seconds, 1))
               for s in ran.steps],
        undone=list(ran.undone), site_state=state.name, next_command=state.next_command, lines=capture.lines)
    if module._diff:
        result["diff"] = dict(prepared="\n".join(changes))
    site.close()
    result = mask_value(result)
    if ran.status not in SUCCEEDED:
        module.fail_json(msg=mask("site %s: %s %s: %s; next: %s" % (runbook.site.name, command, ran.status,
                                                                   ran.message, state.next_command)), **result)
    module.exit_json(**result)
