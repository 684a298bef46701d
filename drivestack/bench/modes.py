"""Agent modes side by side, from a benchmark's result rows: the agents' realism per mode, and each
planner's score, collisions and progress per mode against its own `log` runs.

Both tables group by a choice of `KEYS` columns ("dataset" must be added to the rows by the caller:
it comes from the store's index or the file's folder). The realism of a scenario's planning
problem under an agent mode is read from its log-replay run when there is one (the ego then drives
as recorded, so every difference comes from the agents, as issue 20 defines it), else from every
planner's runs (problems without a recorded human: MONA, inD, NGSIM); `measured_on` says which.
Rows of older benchmarks without realism columns (null) are left out of the realism table.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from drivestack.core.errors import ConfigError
from drivestack.sim.agents import AGENT_MODES

KEYS = ("dataset", "planner", "agents")
"""Columns the tables may group by."""
REFERENCE_PLANNER = "log-replay"
"""The planner whose runs measure the agents' realism when present (the ego as recorded)."""

_CHOSEN_SQL = """
WITH measured AS (SELECT * FROM results WHERE status = 'ok' AND realism_agents IS NOT NULL)
SELECT * FROM measured AS run
WHERE planner = '{reference}' OR NOT EXISTS (
    SELECT 1 FROM measured AS other
    WHERE other.planner = '{reference}' AND other.source = run.source
          AND other.planning_problem_id = run.planning_problem_id AND other.agents = run.agents
)
"""

_REALISM_SQL = """
SELECT {keys},
       CASE WHEN bool_and(planner = '{reference}') THEN '{reference}'
            WHEN bool_or(planner = '{reference}') THEN '{reference}, else every planner'
            ELSE 'every planner' END AS measured_on,
       count(*) AS runs,
       sum(realism_agents)::BIGINT AS agent_count,
       avg(realism_ade_m) AS ade_m,
       avg(realism_fde_m) AS fde_m,
       sum(realism_collisions)::BIGINT AS new_collisions,
       sum(realism_collision_rate * realism_agents) / nullif(sum(realism_agents), 0) AS collision_rate,
       sum(realism_offroad_rate * realism_vehicle_steps) / nullif(sum(realism_vehicle_steps), 0)
           AS offroad_rate,
       sum(realism_offroad_rate_log * realism_vehicle_steps) / nullif(sum(realism_vehicle_steps), 0)
           AS offroad_rate_log,
       sum(realism_red_lights)::BIGINT AS red_lights,
       sum(realism_red_lights_log)::BIGINT AS red_lights_log,
       avg(realism_speed_w1_mps) AS speed_w1_mps,
       avg(realism_accel_w1_mps2) AS accel_w1_mps2,
       avg(realism_jerk_w1_mps3) AS jerk_w1_mps3,
       avg(realism_headway_w1_s) AS headway_w1_s
FROM results
GROUP BY {keys}
ORDER BY {keys}
"""

_PLANNER_SQL = """
WITH ok AS (SELECT * FROM results WHERE status = 'ok'),
     reference AS (
         SELECT source, planning_problem_id, planner, score AS log_score FROM ok WHERE agents = 'log'
     )
SELECT {keys},
       count(*) AS runs,
       avg(score) AS mean_score,
       avg(score - log_score) AS score_vs_log,
       count(log_score) AS paired_with_log,
       avg(at_fault_collision::DOUBLE) AS at_fault_rate,
       avg(any_collision::DOUBLE) AS collision_rate,
       avg(ego_progress) AS ego_progress
FROM ok LEFT JOIN reference USING (source, planning_problem_id, planner)
GROUP BY {keys}
ORDER BY {keys}
"""


def mode_order(modes: set[str]) -> list[str]:
    """Agent modes in the simulator's order (log, idm, ...), unknown ones after them by name."""
    return [mode for mode in AGENT_MODES if mode in modes] + sorted(modes - set(AGENT_MODES))


def _keys(keys: Sequence[str]) -> str:
    """The GROUP BY list of `keys` (a subset of KEYS, as quoted identifiers)."""
    unknown = [key for key in keys if key not in KEYS]
    if unknown or not keys:
        raise ConfigError(f"group by {unknown or 'nothing'}: expected columns among {', '.join(KEYS)}")
    return ", ".join(f'"{key}"' for key in keys)


def realism_runs(table: pa.Table) -> pa.Table:
    """The "ok" runs with realism the realism tables read: of a scenario's planning problem and agent
    mode, its log-replay run when there is one, else every planner's."""
    connection = duckdb.connect()
    connection.register("results", table)
    return connection.sql(_CHOSEN_SQL.format(reference=REFERENCE_PLANNER)).to_arrow_table()


def realism_by_mode(table: pa.Table, keys: Sequence[str] = ("agents",)) -> pa.Table:
    """The agents' realism per group of `keys` over `realism_runs` (`measured_on` says whose runs
    were read): runs, agents present (`agent_count`), mean ADE / FDE [m] of the runs, new
    agent-agent collisions (pairs) and the share of agents in one, off-road share of moving-vehicle
    agent-steps (simulated and recorded, pooled), red-light crossings (simulated and recorded,
    summed), and the runs' mean Wasserstein-1 distances of speed [m/s], acceleration [m/s2], jerk
    [m/s3] and time headway [s]."""
    connection = duckdb.connect()
    connection.register("results", realism_runs(table))
    sql = _REALISM_SQL.format(keys=_keys(keys), reference=REFERENCE_PLANNER)
    return connection.sql(sql).to_arrow_table()


def planners_by_mode(table: pa.Table, keys: Sequence[str] = ("planner", "agents")) -> pa.Table:
    """Each group of `keys` over "ok" runs: runs, mean score, the mean score difference to the same
    planner's `log` run of the same scenario and problem (over the `paired_with_log` runs that have
    one; 0 for `log` itself), at-fault and any-collision rates, mean ego-progress ratio."""
    connection = duckdb.connect()
    connection.register("results", table)
    return connection.sql(_PLANNER_SQL.format(keys=_keys(keys))).to_arrow_table()
