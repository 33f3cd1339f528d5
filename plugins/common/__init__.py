"""Reusable step builders of qrdr's built-in plugins (not a plugin itself).

Design
======

The runbook is one procedure with a few version differences. So the steps are
built once, here, and the four built-in plugins only say what is theirs:

``exchange2000`` / ``exchange2003``
    Instantiate :class:`~.exchange_plugin.ExchangeRunbook` (the plugin object:
    its methods are the hooks) with their row of the version matrix, a
    :class:`~.support.ExchangeSupport` that ``qrdr_validate_site`` answers with
    (Exchange 2000 on Windows 2003 is refused with the reason). The other
    differences are data in :mod:`.catalog` (MSExchangeMGMT exists in 2003
    only; ASP.NET is a prerequisite of 2003 only; service-pack builds). What differs by *Windows* version
    is decided per host: Windows 2000 hosts are driven from their management
    host (``Set-Service -Status`` instead of Start/Stop-Service, ``netdom``
    instead of WMI renames and joins, store scripts with ``-ComputerName``;
    files, registry and programs through :mod:`.w2000`: admin shares,
    StdRegProv, Win32_Process.Create),
    and the source server's cleanup starts in safe mode on Windows 2003 only.
``qsnap`` / ``vss``
    Instantiate :class:`~.snap.SnapEngine` (the plugin object) with the
    packages production needs (VSS adds the VSS Enabler) and their row of the
    version matrix, a :class:`~.support.SnapSupport` (VSS refuses a Windows
    2000 production or standby in ``qrdr_validate_site``). They own the
    CommServe steps (create-qr-volumes) and the QR probes of promote/check
    (the last update not in its copy phase, its age, the QR volumes present).

The builders (each returns :class:`qrdr.steps.Step` objects whose check is
read-only and worded for an admin, e.g. ``EXCH01: MSExchangeIS Running/Auto ->
Stopped/Manual``):

* :mod:`.services`: service state and start mode, stopped in reverse and
  started in dependency order (:mod:`.catalog` knows the dependencies);
* :mod:`.names`: rename + restart (domain or local), leave/join the domain
  (joining reuses a reset account), ADUC "Reset Account";
* :mod:`.acl`: grant rights to the standby's account on the Exchange objects,
  wait until every domain controller shows them;
* :mod:`.stores`: mount stores and mount-at-startup, .edb/.stm paths,
  eseutil state and soft recovery;
* :mod:`.files`: delete registry keys and folders, stop processes that hold
  the Exchange DLLs, run setup.exe/update.exe (with the KB Q280432 hang);
* :mod:`.identity` and :mod:`.hosts`: reach a host under its current name
  and account (facts ``names``/``workgroup``), restart it, read it;
* :mod:`.runbook`: the runbook itself, one module per section, each step a
  top-level builder quoting its runbook step (:mod:`.exchange_plugin` maps
  each hook to its module).

Ordering is explicit (``after``); what a check reads that an earlier step of the
run changes is declared (``rechecked_after``: the join after the leave, the
locked DLLs after the uninstall, whatever reads record-production's facts), so
a plan never calls "no change" a step an earlier one makes necessary (the
builders that know such a step, ``freed_by``, ``out_of_domain_by``,
``renamed_by``, declare it themselves); steps that take production down carry an
``undo`` (services, names) so a failed configure brings production back; the
step that stops production's services opens the "production outage" window
and the one that mounts its stores again closes it; promote's last step closes
"mail flowing" (measured from the start of the run).

Phase hooks only build steps: all I/O happens in the steps' check/apply/verify
through ``ctx.host(key)`` (``qrdr.remote``) and ``ctx.directory``
(``qrdr.directory``), with the commands of docs/design/host-commands.md.
"""
