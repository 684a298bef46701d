"""Bounds on what one input file or one closed-loop run may make drivestack spend, and the physical
ranges a file's values must lie in: safe defaults in one place, each a field of a frozen config.

Reader limits keep one file's cost within a small multiple of its decompressed size: the document's
bytes are capped, and its elements are counted on the raw bytes before the XML parser builds a tree
(a parsed element costs about 130 bytes of memory, so a dense file of tiny elements would otherwise
need ~34x its size). The physical ranges reject values that are finite but absurd (a coordinate of
1e308 m, a time step of 1e300 s), which would overflow to inf in the simulator's arithmetic. Every
default is far beyond every recorded scenario in `../shared/data` (1,083 CommonRoad files: largest
document 3.9 MB and 77k elements, largest track grid 89 agents / 9,018 cells, |x|, |y| <= 892 m,
time steps 0.04 to 0.2 s, speeds <= 57 m/s, accelerations <= 38 m/s2, yaw rates <= 31 rad/s,
obstacle sizes <= 22 m, recordings <= 207 steps, goal time windows <= 6,207 steps).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    """`|value| <= limit` for a `quantity` in `unit`, set by the `ReaderLimits` field `setting`."""

    limit: float
    quantity: str
    unit: str
    setting: str

    def describe(self, text: str) -> str:
        """The one-line problem for a value `text` outside the bound."""
        return (
            f"{self.quantity} {text} is beyond the limit of +-{self.limit:g} {self.unit} "
            f"(ReaderLimits.{self.setting})"
        )


@dataclass(frozen=True)
class ReaderLimits:
    """What one CommonRoad file (scenario or solution) may make the reader allocate, and the ranges its
    values must lie in.

    `max_bytes`: document size after gzip decompression [bytes]; `max_elements`: XML elements per
    document (counted before parsing); `max_time_step`: largest time step index of a state;
    `max_track_cells`: agents x steps of the track grid (nine float64 arrays and a mask: 73 bytes per
    cell, 73 MB at the default); `max_coordinate` |x|, |y| [m] (UTM northings stay below 1e7 m);
    `min_time_step_size`, `max_time_step_size` the scenario's dt [s]; `max_speed` [m/s] (states,
    speed limits), `max_acceleration` [m/s2], `max_yaw_rate` [rad/s]; `max_size` [m] of a shape's
    length, width or radius.
    """

    max_bytes: int = 256 * 1024 * 1024
    max_elements: int = 2_000_000
    max_time_step: int = 1_000_000
    max_track_cells: int = 1_000_000
    max_coordinate: float = 1e7
    min_time_step_size: float = 1e-3
    max_time_step_size: float = 10.0
    max_speed: float = 1e3
    max_acceleration: float = 1e3
    max_yaw_rate: float = 1e3
    max_size: float = 1e4

    @property
    def coordinate(self) -> Bound:
        """The bound on a position's x or y [m]."""
        return Bound(self.max_coordinate, "coordinate", "m", "max_coordinate")

    @property
    def speed(self) -> Bound:
        """The bound on a speed or speed limit [m/s]."""
        return Bound(self.max_speed, "speed", "m/s", "max_speed")

    @property
    def acceleration(self) -> Bound:
        """The bound on an acceleration [m/s2]."""
        return Bound(self.max_acceleration, "acceleration", "m/s2", "max_acceleration")

    @property
    def yaw_rate(self) -> Bound:
        """The bound on a yaw rate [rad/s]."""
        return Bound(self.max_yaw_rate, "yaw rate", "rad/s", "max_yaw_rate")

    @property
    def size(self) -> Bound:
        """The bound on a shape's length, width or radius [m]."""
        return Bound(self.max_size, "size", "m", "max_size")


@dataclass(frozen=True)
class RunLimits:
    """How long one closed-loop run may last: at most `max_steps` steps after its start; a run cut
    there ends with the termination reason "step_cap".

    The default is ten times the longest recording of the data (207 steps); goal windows reach 6,207
    steps but no recording lasts that long. It also bounds a run's cost: about 13 CPU ms per step with
    the drivestack planner (a capped run: 26 CPU s, 0.7 GB peak), and the comfort metric's
    Savitzky-Golay operator is a (steps, steps) matrix (5 GB peak at 10,000 steps).
    """

    max_steps: int = 2_000


DEFAULT_READER_LIMITS = ReaderLimits()
DEFAULT_RUN_LIMITS = RunLimits()
