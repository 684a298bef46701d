"""Closed-loop metrics per step and per scenario: nuPlan's closed-loop score and CommonRoad's goal check.

`evaluate(scenario, problem, record, recorded_ego)` scores a complete `RunRecord`; the registry
(`METRICS`, `compute_metric`) exposes every per-step signal behind it. Deviations from nuPlan are
documented in each module's docstring.
"""

from drivestack.metrics.config import MetricsConfig
from drivestack.metrics.context import MetricContext
from drivestack.metrics.registry import METRICS, Metric, compute_metric
from drivestack.metrics.score import ScenarioMetrics, closed_loop_score, evaluate, evaluate_context
from drivestack.metrics.steps import StepValues

__all__ = [
    "METRICS",
    "Metric",
    "MetricContext",
    "MetricsConfig",
    "ScenarioMetrics",
    "StepValues",
    "closed_loop_score",
    "compute_metric",
    "evaluate",
    "evaluate_context",
]
