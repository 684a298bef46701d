"""The drivestack planner's parameters: one frozen dataclass per pipeline stage; the defaults are
the tuned values (benchmarked on the recorded dev scenarios, never on one scenario id)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivestack.core.comfort import ComfortBounds
from drivestack.core.dynamics import IdmParams
from drivestack.core.errors import ConfigError
from drivestack.maps.routing import RoutingConfig
from drivestack.predict import ForecastConfig, ForecastModel


@dataclass(frozen=True)
class ProposalConfig:
    """Which trajectories are proposed every step.

    Paths: the current lane's centerline and `lateral_offsets` [m] beside it (reached within
    `offset_time` [s] of travel), and lane changes into allowed adjacent lanes over each of
    `lane_change_times` [s] of travel (at least `min_transition` [m]). Speed profiles along every
    path: IDM toward each of `speed_fractions` of the desired speed, with each of `headways` [s],
    braking for the leader and the decision's stop points; a comfortable stop at the nearest
    optional stop point; slowing down at `slow_deceleration` [m/s2] on the ego's lane, and as hard
    as the comfort metric allows (`firm_deceleration` [m/s2] reached at `firm_jerk` [m/s3]); and an
    emergency brake. Profiles change their acceleration by at most
    `comfort_jerk` [m/s3] (`emergency_jerk` for the emergency brake, down to
    `emergency_deceleration` [m/s2]); below the target speed a controller of gain `speed_gain`
    [1/s] caps IDM's acceleration. `horizon` [s] of every proposal.
    """

    horizon: float = 8.0
    lateral_offsets: tuple[float, ...] = (-1.0, -0.6, -0.3, 0.3, 0.6, 1.0)
    offset_time: float = 2.5
    lane_change_times: tuple[float, ...] = (3.5, 5.0)
    min_transition: float = 12.0
    speed_fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.75, 0.9, 1.0)
    headways: tuple[float, ...] = (0.4, 0.7, 1.0, 1.5)
    idm: IdmParams = field(
        default_factory=lambda: IdmParams(
            min_gap=2.5, accel_max=1.5, decel_max=3.0, exponent=4.0, max_braking=7.0
        )
    )
    comfort_jerk: float = 2.0
    speed_gain: float = 0.6
    emergency_deceleration: float = 8.0
    emergency_jerk: float = 12.0
    slow_deceleration: float = 2.5
    firm_deceleration: float = 3.8
    firm_jerk: float = 3.0


@dataclass(frozen=True)
class DecisionConfig:
    """How the decision layer reads the scene.

    Desired speed: the lane's limit; without one the largest of the ego's initial speed, the goal's
    velocity (interval centre) and the moving traffic around, at least `default_speed` [m/s], at
    most `max_speed`; curves cap it at `curve_lateral_acceleration` [m/s2] (at
    `goal_lateral_acceleration` where a goal's velocity asks for more) and `curve_yaw_rate`
    [rad/s]; limits ahead are anticipated at
    `anticipation_deceleration` [m/s2], a goal asking for more speed at `anticipation_acceleration`
    [m/s2]. Goal timing: never pass a goal before its time window opens; reach it before its window
    closes or the run ends (`deadline_margin` [s] early), going up to `goal_overspeed` [m/s] faster
    than desired (the speed-limit term pays for it; the goal counts more). Traffic within
    `traffic_radius` [m] counts. Stops: before a stop line by `stop_margin` [m], for red and yellow
    when no harder than `light_deceleration` [m/s2]; yields to agents crossing the path within
    `yield_before` / `yield_after` [s] of the ego's passage (`vru_margin` [s] more for vulnerable
    road users) when no harder than `yield_deceleration` (a yield once taken is kept while the
    conflict lasts).
    Lane changes: the target lane's gaps must exceed `gap_min` [m] plus `gap_front_time` [s] of
    the ego's speed ahead and `gap_rear_time` [s] of the follower's speed behind, and whoever
    closes in must need at most `gap_deceleration` [m/s2] to keep `gap_min` (for a change the
    route needs: headways x `mandatory_headway_scale`, at most `mandatory_gap_deceleration`, the
    safe braking MOBIL allows a new follower; a change under way keeps going while its gaps hold
    `continuing_headway_scale` of those headways: turning back late swerves harder than
    finishing); while such a change waits for a gap ahead, the ego keeps `make_room_speed` [m/s]
    below the agent there that is at least as fast as the ego (falling back behind it), unless
    that agent is slower than `make_room_min_speed` [m/s]; a lane pays for overtaking when the
    leader in ours is `overtake_speed_gap` [m/s] slower than desired (or stopped).
    `lane_half_width` [m] decides who is in a lane; agents beyond `perception_range` [m] are
    ignored.
    """

    default_speed: float = 13.9
    max_speed: float = 45.0
    curve_lateral_acceleration: float = 3.0
    goal_lateral_acceleration: float = 4.0
    curve_yaw_rate: float = 0.6
    anticipation_deceleration: float = 1.5
    anticipation_acceleration: float = 1.0
    goal_overspeed: float = 2.0
    deadline_margin: float = 0.5
    traffic_radius: float = 60.0
    stop_margin: float = 1.0
    light_deceleration: float = 4.5
    yield_before: float = 1.5
    yield_after: float = 1.0
    vru_margin: float = 1.5
    yield_deceleration: float = 4.0
    gap_min: float = 3.0
    gap_front_time: float = 0.6
    gap_rear_time: float = 0.6
    gap_deceleration: float = 1.5
    mandatory_headway_scale: float = 0.5
    mandatory_gap_deceleration: float = 3.0
    continuing_headway_scale: float = 0.5
    make_room_speed: float = 2.0
    make_room_min_speed: float = 3.0
    overtake_speed_gap: float = 4.0
    lane_half_width: float = 1.6
    perception_range: float = 150.0


@dataclass(frozen=True)
class ScoringConfig:
    """How proposals are scored, consistent with the closed-loop metrics (`drivestack.metrics`).

    Gates: no at-fault collision with the forecast traffic (ego moving, agent not behind it) within
    the time the ego needs to react and stop comfortably (`collision_gate_reaction` [s] plus speed
    over `collision_gate_deceleration` [m/s2], at least `collision_gate_min` [s]; a later one costs
    `late_collision_cost`: forecasts that far out are rough and there is time to replan), no
    box corner off the drivable area (`drivable_shrink` [m] inside the box edges). Weighted terms as
    nuPlan's score: progress (normalised by the best, at least `progress_floor` [m]), time to
    collision above `ttc_min` [s] (checked on the first `ttc_check` [s]), speed limit (over-speed
    integral against `max_overspeed` [m/s]), comfort (`comfort`: the metric's own bounds and smoothing
    windows). Extras: `goal_bonus` for
    reaching a goal state, `lane_change_cost` per lane change, `consistency_bonus` for keeping the
    previous step's lane target, `blameless_collision_cost` for contacts that are not the ego's
    fault (hit from behind or sideways); ties go to
    centred (`offset_cost` per metre off the centerline, `straddle_cost` for riding the line between
    two lanes all the way) and calm (`effort_cost` per m/s2 of mean absolute acceleration)
    proposals. Collisions are
    checked every `check_interval` [s], boxes moving on in between; vehicles' boxes are grown by
    `vehicle_margin` [m] on every side, vulnerable road users' by `vulnerable_margin` [m] (they turn
    and swerve at will); forecast boxes
    grow lengthwise and sideways with time (rates [m/s], then caps [m]: `vehicle_growth`,
    `vulnerable_growth`) as forecasts grow less certain.
    """

    weight_progress: float = 5.0
    weight_ttc: float = 5.0
    weight_speed_limit: float = 4.0
    weight_comfort: float = 2.0
    progress_floor: float = 5.0
    ttc_min: float = 0.95
    ttc_check: float = 4.0
    max_overspeed: float = 2.23
    goal_bonus: float = 0.3
    lane_change_cost: float = 0.03
    consistency_bonus: float = 0.03
    blameless_collision_cost: float = 0.2
    collision_gate_min: float = 3.0
    collision_gate_reaction: float = 1.5
    collision_gate_deceleration: float = 3.0
    late_collision_cost: float = 0.3
    offset_cost: float = 0.02
    straddle_cost: float = 0.15
    effort_cost: float = 0.002
    check_interval: float = 0.4
    drivable_shrink: float = 0.1
    vulnerable_margin: float = 0.3
    vehicle_margin: float = 0.2
    vehicle_growth: tuple[float, float, float, float] = (0.4, 0.1, 1.5, 0.4)
    vulnerable_growth: tuple[float, float, float, float] = (0.3, 0.3, 1.0, 1.0)
    ego_stopped_speed: float = 0.05
    agent_stopped_speed: float = 0.005
    behind_angle: float = float(np.deg2rad(150.0))
    ahead_angle: float = float(np.deg2rad(20.0))
    comfort: ComfortBounds = field(default_factory=ComfortBounds)


@dataclass(frozen=True)
class DrivestackConfig:
    """All parameters of the drivestack planner; `forecast_model` a `ForecastModel` (its name,
    "lane" or "cv", is accepted too)."""

    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    decisions: DecisionConfig = field(default_factory=DecisionConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    forecast_model: ForecastModel = ForecastModel.LANE

    def __post_init__(self) -> None:
        try:
            model = ForecastModel(self.forecast_model)
        except ValueError:
            known = ", ".join(repr(model.value) for model in ForecastModel)
            raise ConfigError(f"forecast_model {self.forecast_model!r}: expected one of {known}") from None
        object.__setattr__(self, "forecast_model", model)
