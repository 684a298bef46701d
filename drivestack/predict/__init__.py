"""Forecasts of other road users over a planning horizon, batched over agents.

`AgentStates.from_tracks(observation.agents)` takes the agents' present states; `constant_velocity`
and `lane_following` (along each vehicle's most likely lane, `LanePaths`) forecast them on a time
grid as a `Forecast` (struct of arrays, shape (agents, times)), whose `corners()` is the occupancy
(oriented boxes over the horizon) a planner scores its proposals against.
"""

from drivestack.predict.forecast import (
    AgentStates,
    Forecast,
    ForecastConfig,
    ForecastModel,
    LanePaths,
    constant_turn,
    constant_velocity,
    lane_following,
)

__all__ = [
    "AgentStates",
    "Forecast",
    "ForecastConfig",
    "ForecastModel",
    "LanePaths",
    "constant_turn",
    "constant_velocity",
    "lane_following",
]
