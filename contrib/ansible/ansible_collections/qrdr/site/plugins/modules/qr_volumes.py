#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: qr_volumes
short_description: Create a site's Quick Recovery volumes on the CommServe (qrdr create-qr-volumes)
description:
  - Runs C(qrdr create-qr-volumes) on one site - scratch pool, QR policy, subclient and its incremental update schedule (the runbook's \"Configure the Quick Recovery Agent\").
version_added: "0.1.0"
author: qrdr
extends_documentation_fragment:
  - qrdr.site.site
  - qrdr.site.site.run
"""

EXAMPLES = r"""
- name: Create the QR volumes
  qrdr.site.qr_volumes:
    config: "{{ qrdr_config }}"
"""

RETURN = r"""
command:
  description: The qrdr command run.
  returned: always
  type: str
  sample: create-qr-volumes
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
  sample: {"production outage": 412.5}
rto_seconds:
  description: The RTO, promote start to mail flowing, in seconds; null when the run has no such window.
  returned: when not in check mode
  type: float
  sample: null
rpo:
  description: The recovery point the run's preflight found (the last QR update that completed) and its age in hours (the RPO); null when the plan has no such probe.
  returned: when not in check mode
  type: dict
  sample: null
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


def main():
    site = SiteModule(RUN_ARGUMENT_SPEC, supports_check_mode=True)
    run_command(site, "create-qr-volumes")


if __name__ == "__main__":
    main()
