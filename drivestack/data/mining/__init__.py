"""Mining: detectors that turn recorded scenarios into tag rows, and the runner that fills the store.

Each detector is a pure function `(scene, ego, config) -> list[Tag]` registered under a name and a
version (`registry.REGISTRY`); `Scene` wraps a `Scenario` with the derived arrays detectors share.
Importing this package registers every detector: cut_in, hard_braking, low_ttc, lane_change,
stopped_vehicle_in_lane, vulnerable_road_user, red_light_ahead, dense_traffic, high_speed, merge,
intersection.
"""

from drivestack.data.mining import interaction, kinematics, lanes, route
from drivestack.data.mining.registry import REGISTRY, Detector, register, select
from drivestack.data.mining.scene import EgoPath, Scene, SceneConfig

__all__ = [
    "REGISTRY",
    "Detector",
    "EgoPath",
    "Scene",
    "SceneConfig",
    "interaction",
    "kinematics",
    "lanes",
    "register",
    "route",
    "select",
]
