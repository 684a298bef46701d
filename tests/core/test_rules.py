"""Rules of the road per jurisdiction, read from CommonRoad benchmark ids."""

from __future__ import annotations

from drivestack.core.rules import TrafficRules, country_of, traffic_rules


def test_the_country_comes_from_the_benchmark_id() -> None:
    assert country_of("C-DEU_MONAEast-2_1360_T-1439") == "DEU"
    assert country_of("CHN_SIND-834_526_T-601") == "CHN"
    assert country_of("USA_US101-22_1_T-1") == "USA"
    assert country_of("TEST_Scene-1_1_T-1") is None
    assert country_of("deu_lowercase-1_1_T-1") is None


def test_turning_right_on_red_depends_on_the_country() -> None:
    assert traffic_rules("DEU_LocationALower26-1_261729_T-1804") == TrafficRules()
    assert not traffic_rules("DEU_LocationALower26-1_261729_T-1804").turn_on_red
    china = traffic_rules("CHN_SIND-834_526_T-601")
    assert china.turn_on_red and not china.stop_before_turn_on_red
    usa = traffic_rules("USA_Lanker-2_2_T-1")
    assert usa.turn_on_red and usa.stop_before_turn_on_red
    assert traffic_rules("TEST_Scene-1_1_T-1") == TrafficRules()  # unknown: never on red
