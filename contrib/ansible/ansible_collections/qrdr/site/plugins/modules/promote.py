#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: promote
short_description: Promote a site's standby server in place of its failed production server (qrdr promote)
description:
  - Runs C(qrdr promote) on one site - the standby takes production's name, identity and address, its
    Exchange is brought up on the last Quick Recovery copy and mail flows again (the runbook's recovery).
  - Refused unless C(confirm) is exactly C(promote <site name>), naming the site of this config, so a
    promote reaches only the site a person typed.
  - qrdr refuses a promote its preflight finds unsafe (production still answering, an update in its copy
    phase, a dirty copy without logs) before anything changes.
version_added: "0.1.0"
author: qrdr
extends_documentation_fragment:
  - qrdr.site.site
  - qrdr.site.site.run
options:
  confirm:
    description:
      - The typed confirmation, exactly C(promote <site name>) (the C(name) in the site config).
      - Checked before anything is planned, in check mode too.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Promote the standby of the site whose production failed
  qrdr.site.promote:
    config: "{{ qrdr_config }}"
    confirm: "promote {{ qrdr_site_name }}"
  register: promoted

- name: Say how long mail was down
  ansible.builtin.debug:
    msg: "RTO {{ promoted.rto_seconds }} s; recovery point {{ promoted.rpo.recovery_point }}"
"""

RETURN = r"""
command:
  description: The qrdr command run.
  returned: always
  type: str
  sample: promote
run_id:
  description: The journal's id of the run (C(qrdr history --run N), C(qrdr report --run N)).
  returned: when not in check mode
  type: int
  sample: 3
state:
  description: How the run ended (C(succeeded), C(rolled back); the task fails on C(failed), C(interrupted), C(waiting)).
  returned: when not in check mode
  type: str
  sample: succeeded
resumed:
  description: Whether an unfinished run of the same command was resumed instead of starting a new one.
  returned: when not in check mode
  type: bool
  sample: false
resumed_from:
  description: The unfinished run that was resumed.
  returned: when not in check mode
  type: int
  sample: null
report:
  description: Path of the run's HTML report on the controller (as C(qrdr) writes after a run); null when it could not be written (see C(report_error)).
  returned: when not in check mode
  type: str
  sample: /var/lib/qrdr/site-a/reports/site-a-run-3.html
windows:
  description: The windows the run measured, in seconds (e.g. C(production outage), C(mail flowing)).
  returned: when not in check mode
  type: dict
  sample: {"mail flowing": 95.2}
rto_seconds:
  description: The RTO, promote start to mail flowing, in seconds; null when the run has no such window.
  returned: when not in check mode
  type: float
  sample: 95.2
rpo:
  description: The recovery point the run's preflight found (the last QR update that completed) and its age in hours (the RPO); null when the plan has no such probe.
  returned: when not in check mode
  type: dict
  sample: {"recovery_point": "2026-12-02T12:10:00+00:00", "age_hours": 0.4}
steps:
  description: Each step of the run - C(step_id), its C(state) (C(done), C(no change), C(failed), C(skipped)), the C(changes) it made, its C(duration_seconds).
  returned: when not in check mode
  type: list
  elements: dict
site_state:
  description: Where the site stands after the run (qrdr's site state, e.g. C(configured), C(promoted)).
  returned: when not in check mode
  type: str
next_command:
  description: qrdr's next safe command for the site.
  returned: when not in check mode
  type: str
plan:
  description: qrdr's plan (C(qrdr plan --json)); in check mode.
  returned: in check mode
  type: dict
changes:
  description: What the steps will change, one line per change (C(step id (target) - line)); in check mode.
  returned: in check mode
  type: list
  elements: str
blockers:
  description: Why qrdr would refuse the run (the task fails when there are any); in check mode.
  returned: in check mode
  type: list
  elements: str
"""

from ansible_collections.qrdr.site.plugins.module_utils.runbook import RUN_ARGUMENT_SPEC, SiteModule, run_command

#: What ``confirm`` must say, the site's name filled in.
CONFIRMATION = "promote %s"


def main():
    site = SiteModule(dict(RUN_ARGUMENT_SPEC, confirm=dict(type="str", required=True)), supports_check_mode=True)

    def confirmed(runbook):
        expected = CONFIRMATION % runbook.site.name
        if site.params["confirm"] != expected:
            site.fail("confirm: a promote of site %s needs confirm: \"%s\" exactly; nothing was done"
                      % (runbook.site.name, expected))

    run_command(site, "promote", require=confirmed)


if __name__ == "__main__":
    main()
