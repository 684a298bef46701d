"""Closed-loop quality of a benchmark run against the recorded human and the baselines.

Run: `.venv/bin/python benchmarks/closed_loop.py RUN_DIR [--planner drivestack] [--baseline idm]`
on the output folder of `drivestack bench ... --planner drivestack,idm,log-replay --agents log,idm`
(the whole dev set for the issue's figures). Prints, per agents mode:
1. per dataset: runs, mean score, the human's mean score on the same problems, at-fault and any
   collisions, goal reached (all problems, and among those the human reached);
2. the planner against the human where one exists: mean score, goal reached where the human
   reached it (goal 95 %), at-fault collisions;
3. every aggregate column of the planner against the baseline, and which is better;
4. success as the open planners were measured (goal reached without any collision) and the
   median planning time per cycle on recorded highD, NGSIM and SinD;
5. the score with reactive (idm) agents against replayed (log) ones (goal: within 2 points).
Goals met at the first step are counted apart, not as a planner's success.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

COLUMNS = (
    ("score", "higher"),
    ("at_fault_collision", "lower"),
    ("any_collision", "lower"),
    ("drivable_area", "higher"),
    ("driving_direction", "higher"),
    ("making_progress", "higher"),
    ("ego_progress", "higher"),
    ("ttc_within_bound", "higher"),
    ("speed_limit", "higher"),
    ("comfort", "higher"),
    ("goal_reached", "higher"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--planner", default="drivestack")
    parser.add_argument("--baseline", default="idm")
    args = parser.parse_args()
    db = duckdb.connect()
    results = args.run_dir / "results.parquet"
    db.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{results}') WHERE status = 'ok'")
    db.execute(
        "CREATE VIEW runs AS SELECT r.*, regexp_extract(source, 'commonroad/([a-z0-9]+)/', 1) AS dataset,"
        " h.score AS human_score, h.goal_reached AS human_goal FROM r LEFT JOIN (SELECT source,"
        " planning_problem_id, agents, score, goal_reached FROM r WHERE planner = 'log-replay') h"
        " USING (source, planning_problem_id, agents)"
    )
    planner, baseline = args.planner, args.baseline
    for agents in ("log", "idm"):
        print(f"\n=== {planner}, {agents} agents")
        counts = db.sql(
            f"""SELECT count(*) FILTER (WHERE planner = '{planner}'),
                   count(*) FILTER (WHERE planner = '{baseline}')
               FROM runs WHERE agents = '{agents}'"""
        ).fetchall()[0]
        if not counts[0] or not counts[1]:
            print(f"  skipped: the run has no {planner} and {baseline} rows both with {agents} agents")
            continue
        db.sql(
            f"""SELECT dataset, count(*) AS runs, round(avg(score), 4) AS score,
                   round(avg(human_score), 4) AS human_score,
                   sum(at_fault_collision::INT) AS at_fault, sum(any_collision::INT) AS collisions,
                   sum(goal_reached_at_start::INT) AS goal_at_start,
                   round(avg(goal_reached::INT) FILTER (WHERE NOT goal_reached_at_start), 4) AS goal_rate,
                   sum((goal_reached AND human_goal)::INT) || ' / ' || sum(human_goal::INT) AS with_human
               FROM runs WHERE planner = '{planner}' AND agents = '{agents}'
               GROUP BY dataset ORDER BY dataset"""
        ).show(max_width=200)
        human = db.execute(
            f"""SELECT count(*), avg(score), avg(human_score),
                   sum((goal_reached AND human_goal)::INT), sum(human_goal::INT), sum(at_fault_collision::INT)
               FROM runs WHERE planner = '{planner}' AND agents = '{agents}' AND human_score IS NOT NULL"""
        ).fetchone()
        if human and human[0]:
            runs, score, human_score, both, reached, at_fault = human
            print(
                f"against the human ({runs} problems with one): score {score:.4f} vs {human_score:.4f} "
                f"({'>=' if score >= human_score else '<'}); goal where the human reached it "
                f"{both}/{reached} = {both / max(reached, 1):.1%} (goal 95 %); at-fault collisions {at_fault}"
            )
        print(f"\n{planner} against {baseline} on every aggregate column ({agents} agents):")
        for column, better in COLUMNS:
            mine, theirs = db.execute(
                f"""SELECT avg({column}::DOUBLE) FILTER (WHERE planner = '{planner}'),
                       avg({column}::DOUBLE) FILTER (WHERE planner = '{baseline}')
                   FROM runs WHERE agents = '{agents}'"""
            ).fetchone()
            wins = mine > theirs if better == "higher" else mine < theirs
            print(f"  {column:20s} {mine:8.4f} {theirs:8.4f}  {'better' if wins else 'NOT better'}")
        timing = db.execute(
            f"""SELECT planner, quantile_cont(plan_ms_p50, 0.5), quantile_cont(plan_ms_p99, 0.99)
               FROM runs WHERE agents = '{agents}' AND planner IN ('{planner}', '{baseline}')
               GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        for name, p50, p99 in timing:
            print(f"  plan ms {name:18s} p50 {p50:7.3f}  p99 {p99:7.3f}")
        success = db.execute(
            f"""SELECT planner, count(*), avg((goal_reached AND NOT any_collision)::INT),
                   quantile_cont(plan_ms_p50, 0.5)
               FROM runs WHERE agents = '{agents}' AND dataset IN ('highd', 'ngsim', 'sind')
                 AND NOT goal_reached_at_start AND planner != 'log-replay' GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        print("\nsuccess (goal reached without any collision) on highD, NGSIM and SinD:")
        for name, runs, rate, p50 in success:
            print(f"  {name:18s} {runs:5d} runs  {rate:6.1%}  median plan {p50:.3f} ms per cycle")
    log, idm = db.execute(
        f"""SELECT avg(score) FILTER (WHERE agents = 'log'), avg(score) FILTER (WHERE agents = 'idm')
           FROM runs WHERE planner = '{planner}'"""
    ).fetchone()
    if log is None or idm is None:
        return
    points = 100 * (idm - log)
    print(f"\n{planner}: score with idm agents {idm:.4f} vs log agents {log:.4f}: {points:+.2f} points")


if __name__ == "__main__":
    main()
