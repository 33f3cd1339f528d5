"""qrdr's exceptions. Each says what is wrong and where (file, field, host, step).

Exit codes of the CLI are derived from the class (see ``qrdr.cli.EXIT_CODES``).
"""

from __future__ import annotations


class QrdrError(Exception):
    """Base of every error qrdr reports to a person."""


class ConfigError(QrdrError):
    """The site config is wrong. ``problems`` lists every one found, each ``(field path, message)``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the site config:"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class PluginError(QrdrError):
    """A plugin cannot be found, imported or trusted (bad steps, duplicate ids)."""


class SiteNotSupported(QrdrError):
    """The site's versions are not a combination the runbook (or a plugin) supports."""


class SecretError(QrdrError):
    """A secret reference cannot be resolved (never contains the secret)."""


class RunLocked(QrdrError):
    """Another run holds the site's lock."""


class JournalError(QrdrError):
    """The site's journal file cannot be used: not a qrdr journal (another program's file, garbage,
    another schema), damaged or truncated, or unreadable. The message names the file; nothing was done."""


class JournalLocked(JournalError):
    """Another program holds the journal's database lock longer than qrdr waits for it."""


class NothingToResume(QrdrError):
    """``resume`` found no unfinished run."""


class Refused(QrdrError):
    """A preflight probe or a check said "blocked": nothing was changed."""

    def __init__(self, message: str, reasons: list[str]):
        self.reasons = reasons
        super().__init__(message + "".join(f"\n  - {reason}" for reason in reasons))


class StepFailed(QrdrError):
    """A step failed while applying or verifying; the run stopped there."""

    def __init__(self, step_id: str, target: str, reason: str):
        self.step_id = step_id
        self.target = target
        self.reason = reason
        super().__init__(f"step {step_id} on {target} failed: {reason}")


class NotConfirmed(QrdrError):
    """The person did not confirm the plan; nothing was changed."""


class Interrupted(QrdrError):
    """The run was stopped (Ctrl-C) between steps; ``resume`` continues it."""


class WaitingForManualStep(QrdrError):
    """A manual step is not confirmed done: the run waits there; ``resume --done STEP`` continues it."""

    def __init__(self, step_id: str, run_id: int):
        self.step_id = step_id
        self.run_id = run_id
        super().__init__(f"run {run_id} waits for the manual step {step_id}: do what it says, then "
                         f"`qrdr resume --done {step_id}`")
