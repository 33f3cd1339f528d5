"""Runs a four-step promote on a World in its own process, so a test can kill it mid-run.

usage: python -m tests.engine.run_world STATE_DIR WORLD KILL_MODE (run|resume)
"""

import sys
from pathlib import Path

from tests.engine.conftest import make_engine
from tests.engine.world import World, WorldPlugin, world_step


def scenario(world: World, kill_mode: str) -> WorldPlugin:
    return WorldPlugin({"promote": [
        world_step(world, "s1", "a", 1),
        world_step(world, "s2", "b", 2, idempotent=False, after=["s1"]),
        world_step(world, "s3", "c", 3, idempotent=False, after=["s2"], kill_on_apply=kill_mode),
        world_step(world, "s4", "d", 4, after=["s3"]),
    ]})


if __name__ == "__main__":
    state_dir, world_path, kill_mode, action = sys.argv[1:5]
    world = World(Path(world_path))
    engine = make_engine(Path(state_dir), scenario(world, kill_mode))
    result = engine.run("promote", ["promote"], yes=True) if action == "run" else engine.resume(yes=True)
    print(result.status)
