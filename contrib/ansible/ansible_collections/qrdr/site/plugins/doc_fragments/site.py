# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every qrdr.site module shares (module_utils/runbook.py SITE_ARGUMENT_SPEC), and those
of the modules that run a command that changes the site (RUN_ARGUMENT_SPEC)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  config:
    description:
      - Path of the site's config on the controller (a C(qrdr.toml), see qrdr's docs/config.md).
      - One inventory host per site (C(connection=local)); set it as a host var, e.g. C(qrdr_config).
    type: path
    required: true
  state_dir:
    description:
      - Where qrdr keeps the site's journal, lock and reports; default the site config's C(state_dir).
      - Runs of the same site must share it (it is how a run after a crash resumes).
    type: path
  secrets:
    description:
      - Values of the environment variables the site config refers to (C({ env = "QRDR_..." })), set for
        this module's process only. Names must start with C(QRDR_).
      - Without it the controller's environment is used (an AWX credential of the C(qrdr site) type
        injects it). Never pass secrets with the task's C(environment) keyword, which C(-vvv) shows.
    type: dict
    default: {}
requirements:
  - qrdr installed in the interpreter the module runs with (C(ansible_python_interpreter)).
notes:
  - Runs on the controller; qrdr itself reaches the site's hosts (WinRM) and its directory (LDAP).
"""

    RUN = r"""
options:
  done:
    description:
      - Ids of manual steps a person has done (qrdr's C(--done)); the run waits at a manual step otherwise.
    type: list
    elements: str
    default: []
  overrides:
    description:
      - Refusals of qrdr's site state a person lifts (qrdr's C(--override), e.g. C(promoted-standby)); each is journaled.
    type: list
    elements: str
    default: []
  retry:
    description:
      - When the task resumes an unfinished run, ids of failed steps that are not idempotent which a person checked on their host and wants applied again (qrdr's C(resume --retry)); each is journaled. Without it such a step fails again, saying so; naming any other step fails the task before anything changes.
    type: list
    elements: str
    default: []
notes:
  - Check mode is qrdr's plan, nothing is changed; C(changed) when a step will (or may) change something.
  - With C(--diff), the diff lists what each changing step will change (check mode) or planned to change.
  - Running again after a crash or an interruption resumes the unfinished run of the same command (C(resumed) is
    true); an unfinished run of another command fails the task naming qrdr's next safe command.
  - A run that does not succeed fails the task with qrdr's message and the next safe command.
"""
