#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: readiness_info
short_description: Whether a site is ready for a promote today (qrdr check and qrdr status)
description:
  - Runs qrdr's any-day readiness check on one site (C(qrdr check) - every preflight probe, read-only) and
    reads where the site stands from its journal (C(qrdr status)).
  - Never changes anything, in check mode or not; C(changed) is always false.
  - A site that is not ready is no failure of the task unless C(require_ready) is true (an AWX workflow's
    readiness node, so its approval node is reached only for a ready site).
version_added: "0.1.0"
author: qrdr
extends_documentation_fragment:
  - qrdr.site.site
options:
  require_ready:
    description:
      - Fail the task when the site is not ready (its reasons in the message).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Readiness of every site
  qrdr.site.readiness_info:
    config: "{{ qrdr_config }}"
  register: readiness

- name: List the sites that are not ready
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} - {{ readiness.reasons }}"
  when: not readiness.ready
"""

RETURN = r"""
site:
  description: The site's name (the C(name) of its config).
  returned: always
  type: str
  sample: site-a
ready:
  description: Whether every readiness probe passed.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the site is not ready, one line per blocked probe or probe that could not run.
  returned: always
  type: list
  elements: str
  sample: ["quick-recovery.last-update (commserve) - no QR update has completed yet"]
rpo:
  description: The recovery point (the last QR update that completed) and its age in hours; null when no probe found one.
  returned: always
  type: dict
  sample: {"recovery_point": "2026-12-02T12:10:00+00:00", "age_hours": 0.4}
state:
  description: Where the site stands from its journal (qrdr's site state - C(unknown), C(configured), C(qr-ready), C(promoted), C(cleaned) or a run under way).
  returned: always
  type: str
  sample: qr-ready
next_command:
  description: qrdr's next safe command for the site.
  returned: always
  type: str
  sample: qrdr promote
status:
  description: C(qrdr status --json) - state, what shows it, lock holder, unfinished run, last runs.
  returned: always
  type: dict
probes:
  description: Each probe of the check (C(qrdr check --json)'s probes).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.qrdr.site.plugins.module_utils.runbook import (SITE_ARGUMENT_SPEC, SiteModule, mask_value,
                                                                         plan_document, recovery_point)


def main():
    site = SiteModule(dict(SITE_ARGUMENT_SPEC, require_ready=dict(type="bool", default=False)),
                      supports_check_mode=True)
    runbook = site.open()
    check = site.guarded(runbook.check)
    status = site.guarded(runbook.status)
    result = dict(changed=False, site=runbook.site.name, ready=not check.blockers, reasons=check.blockers,
                  rpo=recovery_point(check), state=status["state"], next_command=status["next"],
                  status=mask_value(status), probes=plan_document(check)["probes"])
    site.close()
    if site.params["require_ready"] and check.blockers:
        site.module.fail_json(msg=mask_value("site %s is not ready:\n  - %s" % (runbook.site.name, "\n  - ".join(check.blockers))),
                              **result)
    site.module.exit_json(**result)


if __name__ == "__main__":
    main()
