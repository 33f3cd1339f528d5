"""A plugin whose steps act on a local JSON file (the "world"), for engine tests.

Each step wants ``world[key] == value``; its check reads the file, its apply
writes it. Steps can be told to fail, to block, to kill their own process
while applying, or to sleep; applies are counted in ``<world>.applies`` so a
test can prove a step was (not) applied twice.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from qrdr.hookspecs import hookimpl
from qrdr.steps import Check, Step


class World:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.applies_path = self.path.with_suffix(".applies")

    def read(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def write(self, key: str, value) -> None:
        data = self.read()
        data[key] = value
        self.path.write_text(json.dumps(data))

    def count_apply(self, step_id: str) -> None:
        with self.applies_path.open("a") as handle:
            handle.write(step_id + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def applies(self) -> list[str]:
        return self.applies_path.read_text().split() if self.applies_path.exists() else []


def world_step(world: World, step_id: str, key: str, value, *, idempotent=True, destructive=False, after=(),
               fail_apply=False, block=False, kill_on_apply: str | bool = False, sleep=0.0, undo_key=None,
               verify_wrong=False, **extra) -> Step:
    def check(ctx):
        if block:
            return Check.blocked(f"{key} is not as expected")
        current = world.read().get(key)
        if current == value:
            return Check.no_change(f"{key} is already {value!r}")
        return Check.will_change(f"{key}: {current!r} -> {value!r}")

    def apply(ctx):
        world.count_apply(step_id)
        if sleep:
            time.sleep(sleep)
        killing = False if os.environ.get("WORLD_NO_KILL") else kill_on_apply
        if killing == "before-write":
            os.kill(os.getpid(), signal.SIGKILL)
        if fail_apply:
            raise RuntimeError(f"cannot set {key}")
        world.write(key, "wrong" if verify_wrong else value)
        if killing == "after-write":
            os.kill(os.getpid(), signal.SIGKILL)
        return {"key": key, "value": value}

    def undo(ctx):
        world.write(undo_key or key, "undone")

    return Step(id=step_id, title=f"set {key} to {value}", target="production", check=check, apply=apply,
                idempotent=idempotent, destructive=destructive, after=tuple(after),
                undo=undo if undo_key is not None else None, **extra)


class WorldPlugin:
    """Returns the steps it is given for the promote phase (and for configure's phases)."""

    def __init__(self, steps_by_phase: dict[str, list[Step]], probes: list[Step] | None = None):
        self.steps_by_phase = steps_by_phase
        self.probes = probes or []

    @hookimpl
    def qrdr_promote_standby(self):
        return self.steps_by_phase.get("promote", [])

    @hookimpl
    def qrdr_prepare_production(self):
        return self.steps_by_phase.get("prepare-production", [])

    @hookimpl
    def qrdr_finish_configuration(self):
        return self.steps_by_phase.get("finish-configuration", [])

    @hookimpl
    def qrdr_cleanup(self, scope):
        return self.steps_by_phase.get(f"cleanup-{scope}", [])

    @hookimpl
    def qrdr_preflight(self, phase):
        return self.probes if phase in ("promote", "check") else []
