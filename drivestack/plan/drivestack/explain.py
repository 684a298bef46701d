"""The planner's explanation of a step: what it decided and why, with the best score of every
alternative it weighed (a `core.record.Decision`), named from the chosen proposal's lane option, kind and what
limited it."""

from __future__ import annotations

import numpy as np

from drivestack.core.record import Decision
from drivestack.plan.drivestack.decide import LaneOption, Scene
from drivestack.plan.drivestack.scoring import Scores
from drivestack.plan.drivestack.stages import BRAKE, FIRM, LEADER, OTHER, SLOW, STOP, WALL, Memory, Proposals


def explain(
    scene: Scene, options: list[LaneOption], proposals: Proposals, scores: Scores, best: int, memory: Memory
) -> Decision:
    """Name the chosen proposal `best`'s action and reason, with the best score of every
    alternative; `memory` says whether a lane change was under way."""
    option = options[proposals.option[best]]
    checks = scores.checks
    action, reason = _action(option, proposals, best, scene)
    if not scores.safe[best]:
        steps = proposals.s.shape[1]
        if checks.collision[best] >= steps:
            why = "every proposal leaves the drivable area"
        else:
            culprit = int(checks.culprit[best])
            who = (
                f"agent {int(scene.forecast.ids[culprit])}"
                if 0 <= culprit < scene.agents.count
                else "an obstacle"
            )
            why = f"every proposal collides; latest with {who} in {checks.collision[best] * scene.dt:.1f} s"
        action = "emergency_brake" if proposals.kind[best] == BRAKE else action
        reason = f"no safe proposal: {why}"
    elif option.side == 0 and memory.changing and not option.corridor.holds(memory.target_lane):
        blocked = [other for other in options if other.side != 0 and other.corridor.holds(memory.target_lane)]
        why = blocked[0].why if blocked else "target lane gone"
        action, reason = "abort_lane_change", why
    alternatives = []
    codes = proposals.option * 8 + proposals.kind  # one code per (lane option, profile kind)
    best_by_label: dict[str, float] = {}
    for code in np.unique(codes).tolist():  # a handful of (option, kind) pairs
        label = _label(options[code // 8], code % 8)
        value = float(scores.total[codes == code].max())
        best_by_label[label] = max(best_by_label.get(label, -np.inf), value)
    chosen = _label(option, int(proposals.kind[best]))
    for label, value in best_by_label.items():
        if label != chosen:
            alternatives.append((label, f"{value:.3f}" if np.isfinite(value) else "unsafe"))
    for other in options:
        if not other.allowed:
            alternatives.append((other.name, f"closed ({other.why})"))
    return Decision(
        scene.step, action, reason, float(scores.total[best]), tuple(alternatives), len(proposals.kind)
    )


def _label(option: LaneOption, kind: int) -> str:
    """The alternative a proposal stands for: its lane option and profile kind."""
    if kind == BRAKE:
        return "emergency_brake"
    if kind in (SLOW, FIRM):
        return "slow_down"
    if kind == OTHER:
        return f"{option.name}/other"
    return f"{option.name}/stop" if kind == STOP else option.name


def _action(option: LaneOption, proposals: Proposals, best: int, scene: Scene) -> tuple[str, str]:
    """The action and reason a chosen (safe) proposal carries out."""
    kind = int(proposals.kind[best])
    if kind == BRAKE:
        return "emergency_brake", "braking hard is the best proposal"
    if kind in (SLOW, FIRM):
        return "slow_down", "slowing down" + (" firmly" if kind == FIRM else "") + " is the best proposal"
    if option.side != 0:
        return option.name, option.why
    if kind == OTHER:
        return "follow_lane", "another source's proposal is the best"
    wall = option.first_wall
    binding = int(proposals.binding[best])
    offset = float(proposals.target[best])
    nudge = f", offset {offset:+.1f} m" if abs(offset) > 0.05 else ""
    if wall is not None and (binding == WALL or kind == STOP):
        return ("yield" if wall.kind == "yield" else "stop"), wall.reason + nudge
    lead = option.lead_row
    if binding == LEADER or (kind == STOP and np.isfinite(option.lead_gap)):
        who = f"agent {int(scene.agents.ids[lead])}" if lead >= 0 else "an obstacle"
        verb = "stop" if option.lead_speed < 0.5 else "follow_lead"
        return verb, f"{who} {option.lead_gap:.1f} m ahead at {option.lead_speed:.1f} m/s{nudge}"
    target = float(proposals.fraction[best]) * float(option.envelope[option.corridor.station(option.s0)])
    why = "" if option.why == "current lane" else f", {option.why}"
    return "follow_lane", f"toward {target:.1f} m/s{nudge}{why}"
