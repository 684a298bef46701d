"""Small handmade CommonRoad documents for the reader's tests, and helpers to write and edit them.

Importable as `commonroad_docs` from any test (tests/ is on sys.path through its conftest.py).
`SCENARIO_2020A` uses every element the reader knows; `SCENARIO_2018B` the 2018b spellings. Tests derive
broken or special variants with `edit` (which fails loudly when the text to replace is not there).
"""

from __future__ import annotations

import gzip
from pathlib import Path

SCENARIO_ID = "ZAM_Test-1_1_T-1"


def point(x: float, y: float) -> str:
    """A `<point>` element."""
    return f"<point><x>{x}</x><y>{y}</y></point>"


def bound(tag: str, points: list[tuple[float, float]], marking: str = "") -> str:
    """A lanelet bound (`leftBound` / `rightBound`) through `points`, with an optional line marking."""
    line = f"<lineMarking>{marking}</lineMarking>" if marking else ""
    return f"<{tag}>{''.join(point(x, y) for x, y in points)}{line}</{tag}>"


def state(step: int, x: float, y: float, yaw: float, speed: float | None = 10.0, tag: str = "state") -> str:
    """An obstacle state (`state` / `initialState`); `speed` None leaves out the velocity."""
    velocity = "" if speed is None else f"<velocity><exact>{speed}</exact></velocity>"
    return (
        f"<{tag}><position>{point(x, y)}</position><orientation><exact>{yaw}</exact></orientation>"
        f"<time><exact>{step}</exact></time>{velocity}</{tag}>"
    )


def dynamic_obstacle(
    obstacle_id: int, kind: str, shape: str, states: list[str], tag: str = "dynamicObstacle"
) -> str:
    """A dynamic obstacle: the first of `states` is its initial state (given with tag 'initialState')."""
    role = "<role>dynamic</role>" if tag == "obstacle" else ""
    trajectory = f"<trajectory>{''.join(states[1:])}</trajectory>" if len(states) > 1 else ""
    head = f'<{tag} id="{obstacle_id}">{role}<type>{kind}</type><shape>{shape}</shape>'
    return f"{head}{states[0]}{trajectory}</{tag}>"


CAR_SHAPE = "<rectangle><length>4.5</length><width>1.8</width></rectangle>"
CAR_STATES = [state(0, 10.0, 0.0, 0.0, tag="initialState")] + [
    state(t, 10.0 + t, 0.0, 0.0) for t in range(1, 5)
]
CAR = dynamic_obstacle(50, "car", CAR_SHAPE, CAR_STATES)
PEDESTRIAN = dynamic_obstacle(
    51,
    "pedestrian",
    "<circle><radius>0.4</radius></circle>",
    [state(2, 20.0, 5.0, 3.5, speed=1.2, tag="initialState"), state(3, 19.88, 5.0, 3.5, speed=1.2)],
)
PLANNING_PROBLEM = (
    '<planningProblem id="60"><initialState>'
    f"<position>{point(5.0, 0.0)}</position><orientation><exact>0.0</exact></orientation>"
    "<time><exact>0</exact></time><velocity><exact>8.0</exact></velocity>"
    "<yawRate><exact>0.0</exact></yawRate><slipAngle><exact>0.0</exact></slipAngle></initialState>"
    '<goalState><position><lanelet ref="2"/></position>'
    "<time><intervalStart>10</intervalStart><intervalEnd>50</intervalEnd></time>"
    "<velocity><intervalStart>5.0</intervalStart><intervalEnd>15.0</intervalEnd></velocity></goalState>"
    "<goalState><position><rectangle><length>10.0</length><width>4.0</width>"
    f"<orientation>0.0</orientation><center><x>150.0</x><y>0.0</y></center></rectangle></position>"
    "<time><intervalStart>20</intervalStart><intervalEnd>60</intervalEnd></time>"
    "<orientation><intervalStart>-0.5</intervalStart><intervalEnd>0.5</intervalEnd></orientation></goalState>"
    "</planningProblem>"
)

SCENARIO_2020A = f"""<?xml version="1.0" encoding="utf-8"?>
<commonRoad commonRoadVersion="2020a" benchmarkID="{SCENARIO_ID}" timeStepSize="0.1" author="Tester"
    affiliation="drivestack" source="handmade" date="2026-11-23">
  <location><geoNameId>2867714</geoNameId><gpsLatitude>48.26</gpsLatitude><gpsLongitude>11.67</gpsLongitude></location>
  <scenarioTags><urban/><intersection/></scenarioTags>
  <lanelet id="1">
    {bound("leftBound", [(0, 2), (50, 2), (100, 2)], "solid")}
    {bound("rightBound", [(0, -2), (100, -2)], "dashed")}
    <successor ref="2"/>
    <adjacentLeft ref="3" drivingDir="opposite"/>
    <stopLine><lineMarking>solid</lineMarking><trafficLightRef ref="20"/></stopLine>
    <laneletType>urban</laneletType>
    <userOneWay>vehicle</userOneWay>
    <trafficSignRef ref="10"/>
    <trafficLightRef ref="20"/>
  </lanelet>
  <lanelet id="2">
    {bound("leftBound", [(100, 2), (200, 2)])}
    {bound("rightBound", [(100, -2), (200, -2)])}
    <predecessor ref="1"/>
    <laneletType>urban</laneletType>
  </lanelet>
  <lanelet id="3">
    {bound("leftBound", [(100, 2), (0, 2)])}
    {bound("rightBound", [(100, 6), (0, 6)])}
    <adjacentLeft ref="1" drivingDir="opposite"/>
    <laneletType>urban</laneletType>
    <userBidirectional>bicycle</userBidirectional>
  </lanelet>
  <trafficSign id="10">
    <trafficSignElement><trafficSignID>274</trafficSignID><additionalValue>13.89</additionalValue></trafficSignElement>
    <position>{point(0, -3)}</position>
    <virtual>false</virtual>
  </trafficSign>
  <trafficLight id="20">
    <cycle>
      <cycleElement><duration>30</duration><color>green</color></cycleElement>
      <cycleElement><duration>5</duration><color>yellow</color></cycleElement>
      <cycleElement><duration>25</duration><color>red</color></cycleElement>
      <timeOffset>3</timeOffset>
    </cycle>
    <position>{point(100, -3)}</position>
    <direction>all</direction>
    <active>true</active>
  </trafficLight>
  <intersection id="30">
    <incoming id="31"><incomingLanelet ref="1"/><successorsStraight ref="2"/></incoming>
  </intersection>
  <staticObstacle id="40"><type>parkedVehicle</type>
    <shape><rectangle><length>4.0</length><width>2.0</width></rectangle></shape>
    <initialState><position>{point(150, -1)}</position><orientation><exact>0.0</exact></orientation>
      <time><exact>0</exact></time></initialState>
  </staticObstacle>
  {CAR}
  {PEDESTRIAN}
  {PLANNING_PROBLEM}
</commonRoad>
"""

SCENARIO_2018B = f"""<?xml version="1.0" encoding="utf-8"?>
<commonRoad commonRoadVersion="2018b" benchmarkID="{SCENARIO_ID}" timeStepSize="0.1" author="Tester"
    affiliation="drivestack" source="handmade" tags="highway multi_lane">
  <lanelet id="1">
    {bound("leftBound", [(0, 2), (100, 2)])}
    {bound("rightBound", [(0, -2), (100, -2)])}
    <successor ref="2"/>
    <speedLimit>22.35</speedLimit>
  </lanelet>
  <lanelet id="2">
    {bound("leftBound", [(100, 2), (200, 2)])}
    {bound("rightBound", [(100, -2), (200, -2)])}
    <predecessor ref="1"/>
  </lanelet>
  <obstacle id="40"><role>static</role><type>parkedVehicle</type>
    <shape><rectangle><length>4.0</length><width>2.0</width></rectangle></shape>
    <initialState><position>{point(150, -1)}</position><orientation><exact>0.0</exact></orientation>
      <time><exact>0</exact></time></initialState>
  </obstacle>
  {dynamic_obstacle(50, "car", CAR_SHAPE, CAR_STATES, tag="obstacle")}
  {PLANNING_PROBLEM}
</commonRoad>
"""

SOLUTION = f"""<CommonRoadSolution benchmark_id="KS2:TR2:{SCENARIO_ID}:2020a" date="2026-11-23T12:00:00">
  <ksTrajectory planningProblem="60">
    <ksState><x>6.0</x><y>0.0</y><steeringAngle>0.0</steeringAngle><velocity>8.0</velocity>
      <orientation>0.0</orientation><time>1</time></ksState>
    <ksState><x>5.0</x><y>0.0</y><steeringAngle>0.0</steeringAngle><velocity>8.0</velocity>
      <orientation>0.0</orientation><time>0</time></ksState>
  </ksTrajectory>
</CommonRoadSolution>
"""


def edit(text: str, old: str, new: str, count: int = 1) -> str:
    """`text` with the first `count` occurrences of `old` replaced by `new`; `old` must occur."""
    assert old in text, f"{old!r} not in the document"
    return text.replace(old, new, count)


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write `content` to `folder / name`: text is UTF-8, gzip-compressed when the name ends in `.gz`;
    bytes are written as they are. Returns the path."""
    path = folder / name
    if isinstance(content, str):
        data = content.encode()
        content = gzip.compress(data, mtime=0) if name.endswith(".gz") else data
    path.write_bytes(content)
    return path
