"""Thresholds and weights of the closed-loop metrics; the defaults are nuPlan's closed-loop configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivestack.core.comfort import ComfortBounds


@dataclass(frozen=True)
class MetricsConfig:
    """Every threshold the metrics use, in SI units; defaults reproduce nuPlan's closed-loop score.

    The comfort bounds are the `ComfortBounds` the planner's scorer shares.
    """

    # No at-fault collision (nuPlan no_ego_at_fault_collisions).
    ego_stopped_speed: float = 0.05
    """Ego speed [m/s] at or below which a collision counts as 'ego stopped' (never at fault)."""
    agent_stopped_speed: float = 0.005
    """Agent speed [m/s] at or below which the agent counts as stopped (hitting it is at fault)."""
    behind_angle: float = float(np.deg2rad(150.0))
    """Bearing from the ego's heading [rad] beyond which an agent is behind the ego."""
    ahead_angle: float = float(np.deg2rad(20.0))
    """Bearing from the ego's heading [rad] below which an agent is ahead of the ego (TTC relevance)."""
    max_collisions_vru: int = 0
    """At-fault collisions with vulnerable road users tolerated before the collision score is 0."""
    max_collisions_vehicle: int = 0
    """At-fault collisions with vehicles tolerated before the collision score is 0."""
    max_collisions_object: int = 1
    """At-fault collisions with static objects tolerated (one such collision scores 0.5)."""

    # Drivable area compliance.
    max_outside_distance: float = 0.3
    """Distance [m] of an ego corner outside the drivable area from which compliance is 0."""

    # Driving direction compliance.
    direction_horizon: float = 1.0
    """Window [s] over which progress against the lane direction is summed."""
    direction_compliance: float = 2.0
    """Backward progress [m] within the window below which the ego complies (score 1)."""
    direction_violation: float = 6.0
    """Backward progress [m] within the window from which the score is 0 (0.5 in between)."""

    # Ego progress and making progress.
    progress_floor: float = 2.0
    """Progress [m] below which ego and expert progress are raised to it (nuPlan score_progress_threshold)."""
    min_progress_ratio: float = 0.2
    """Ego-to-expert progress ratio below which the ego is not making progress."""

    # Time to collision.
    ttc_step: float = 0.1
    """Time step [s] at which ego and agents are propagated."""
    ttc_horizon: float = 3.0
    """Propagation horizon [s] (exclusive, as nuPlan's arange)."""
    ttc_min: float = 0.95
    """Time to collision [s] the ego must stay above at every step."""
    ttc_stopped_speed: float = 0.005
    """Ego speed [m/s] at or below which no time to collision is computed."""

    # Speed limit compliance.
    max_overspeed: float = 2.23
    """Over-speed [m/s] that, held for the whole run, drives the speed-limit score to 0."""

    # Comfort.
    comfort: ComfortBounds = field(default_factory=ComfortBounds)
    """The comfort metric's bounds and smoothing windows."""

    # Weights of the averaged terms of the score.
    weight_progress: float = 5.0
    weight_ttc: float = 5.0
    weight_speed_limit: float = 4.0
    weight_comfort: float = 2.0


DEFAULT_CONFIG = MetricsConfig()
"""nuPlan's closed-loop configuration."""
