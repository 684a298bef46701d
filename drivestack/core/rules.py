"""Rules of the road that differ between jurisdictions, looked up by the country a CommonRoad
benchmark id names (`DEU_...`, `USA_...`, `C-CHN_...`: ISO 3166-1 alpha-3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COUNTRY = re.compile(r"^(?:[A-Z]-)?([A-Z]{3})_")


@dataclass(frozen=True)
class TrafficRules:
    """`turn_on_red`: a vehicle may turn right (toward the kerb, in right-hand traffic) against a red
    light, giving way to everyone else; `stop_before_turn_on_red`: only after a full stop at the
    line. The default is the strict reading: never turn on red."""

    turn_on_red: bool = False
    stop_before_turn_on_red: bool = True


RULES: dict[str, TrafficRules] = {
    "USA": TrafficRules(turn_on_red=True, stop_before_turn_on_red=True),
    "CAN": TrafficRules(turn_on_red=True, stop_before_turn_on_red=True),
    "CHN": TrafficRules(turn_on_red=True, stop_before_turn_on_red=False),
}
"""Jurisdictions whose rules differ from the default (China: right turns on red need no stop,
only giving way; the USA and Canada: after a full stop, unless a sign forbids it, which drivestack
does not read yet)."""


def country_of(scenario_id: str) -> str | None:
    """The country code a CommonRoad benchmark id starts with (after a `C-`-style prefix), if any."""
    match = _COUNTRY.match(scenario_id)
    return match.group(1) if match else None


def traffic_rules(scenario_id: str) -> TrafficRules:
    """The rules of the road where the scenario `scenario_id` was recorded (the default elsewhere)."""
    return RULES.get(country_of(scenario_id) or "", TrafficRules())
