"""The typed seams between the planner's stages: what a proposal is, and who makes and scores one.

A step runs route -> forecast -> decide -> propose -> roll out -> score -> choose (see `planner`).
Any number of `ProposalSource`s turn the decided lane options into `Proposals` (rolled-out states
and where each row drives); one `Scorer` scores them all alike; the chooser and the explanation
read only `Proposals` and `Scores`. A new source (a learned one, say) implements `propose`, tracks
its references with `rolled_out`, and is handed to `DrivestackPlanner(extra_sources=...)`.
Arrays: proposals (B,), over the horizon (B, T), T = H + 1 steps; SI units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from drivestack.core.dynamics import BicycleState, rollout

if TYPE_CHECKING:
    from drivestack.core.record import Decision
    from drivestack.maps.routing import Corridor
    from drivestack.plan.drivestack.decide import LaneOption, Scene
    from drivestack.plan.drivestack.scoring import Scores

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# profile kinds: what a proposal's speed does (the chooser and the explanation read them)
IDM = 0  # follows the lane's desired speed behind its leaders, stops at walls
STOP = 1  # a comfortable stop just in time at the first wall or behind the leader
BRAKE = 2  # the emergency brake
SLOW = 3  # slowing down comfortably
FIRM = 4  # slowing down as hard as comfort allows
OTHER = 5  # a proposal of another source, whose speed is its own

# what limited a profile's first acceleration
FREE = 0
LEADER = 1
WALL = 2


@dataclass(frozen=True, eq=False)
class Proposals:
    """B proposals rolled out over T steps: `states` (B, T) as the simulator would execute them;
    per row the lane `option` it drives in (index into the step's lane options), its profile `kind`
    (IDM ... OTHER), arc length `s` and lateral offset `d` [m] (B, T) along that option's corridor
    (of the reference the tracker follows), its lateral `target` offset [m] reached after
    `transition` [m] of travel, the IDM target `fraction` of the desired speed (NaN: none) and what
    limited its first acceleration, `binding` (FREE, LEADER, WALL)."""

    states: BicycleState
    option: IntArray
    kind: IntArray
    s: FloatArray
    d: FloatArray
    target: FloatArray
    transition: FloatArray
    fraction: FloatArray
    binding: NDArray[np.int8]

    @property
    def count(self) -> int:
        """Number of proposals B."""
        return len(self.option)

    @staticmethod
    def concat(parts: list[Proposals]) -> Proposals:
        """The proposals of `parts` one after another (rows keep their order)."""
        if len(parts) == 1:
            return parts[0]
        states = BicycleState(
            *(
                np.concatenate([getattr(part.states, name) for part in parts])
                for name in ("x", "y", "yaw", "speed", "acceleration", "yaw_rate", "steering")
            )
        )
        names = ("option", "kind", "s", "d", "target", "transition", "fraction", "binding")
        rows = {name: np.concatenate([getattr(part, name) for part in parts]) for name in names}
        return Proposals(states=states, **rows)


@dataclass
class Memory:
    """What the planner keeps between steps: the corridor it follows, the lane it aims for and
    whether it is changing lanes toward it (and the path length [m] its chosen lane change has left:
    a lane change under way keeps its end rather than starting afresh every step), the lateral
    offset it chose, the agents it yields to, the lanes whose red-light stop line it has stopped at
    (where the rules then let it turn right on red), and every decision of the run."""

    corridor: Corridor | None = None
    target_lane: int = -1
    changing: bool = False
    change_left: float = np.inf
    offset: float = 0.0
    yielding: frozenset[int] = frozenset()
    stopped_at: frozenset[int] = frozenset()
    decisions: list[Decision] = field(default_factory=list)


class ProposalSource(Protocol):
    """Makes proposals for one step from the scene and the decided lane options (closed options
    must get none)."""

    def propose(self, scene: Scene, options: list[LaneOption]) -> Proposals:
        """The proposals of this step, rolled out (see `rolled_out`)."""
        ...


class Scorer(Protocol):
    """Scores every proposal of a step alike, whichever source made it."""

    def score(self, scene: Scene, options: list[LaneOption], proposals: Proposals, memory: Memory) -> Scores:
        """The scores of `proposals` (B,) (-inf where unsafe)."""
        ...


def rolled_out(
    scene: Scene,
    options: list[LaneOption],
    option: IntArray,
    x: FloatArray,
    y: FloatArray,
    yaw: FloatArray,
    speed: FloatArray,
    kind: int = OTHER,
) -> Proposals:
    """Proposals from references (B, T) on the step grid (column 0 = now) [m, rad, m/s] in lane
    `option` (B,): tracked from the ego's state with the simulator's tracker and bicycle, located
    on their options' corridors; for sources other than the rule-based one."""
    ego = scene.ego
    count = len(option)
    start = BicycleState.of(
        ego.x, ego.y, ego.yaw, ego.speed, ego.acceleration, ego.yaw_rate, ego.steering_angle, count
    )
    states = rollout(start, x, y, yaw, speed, scene.tracker)
    s, d = np.empty(x.shape), np.empty(x.shape)
    for number, lane in enumerate(options):
        rows = option == number
        if rows.any():
            s[rows], d[rows] = lane.corridor.frame.to_frenet(np.stack([x[rows], y[rows]], axis=-1))
    return Proposals(
        states=states,
        option=np.asarray(option, dtype=np.int64),
        kind=np.full(count, kind, dtype=np.int64),
        s=s,
        d=d,
        target=d[:, -1].copy(),
        transition=np.full(count, np.inf),
        fraction=np.full(count, np.nan),
        binding=np.zeros(count, dtype=np.int8),
    )
