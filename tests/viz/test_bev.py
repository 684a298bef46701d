"""Bird's-eye pictures: framing on a built scene, and `drivestack show` on a real recorded scenario."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from PIL import Image
from scenes import EGO_ID, LANE_WIDTH, Ego, moving, scenario, solution_files, straight_road
from typer.testing import CliRunner

from drivestack.cli import app
from drivestack.core.errors import ConfigError
from drivestack.core.scenario import AgentType, Occupancy, Shape, ShapeKind
from drivestack.data.tags import Tag
from drivestack.viz.bev import (
    BevStyle,
    choose_focus,
    draw_occupancies,
    ego_drive,
    profiled_agents,
    render_scene,
    save_png,
    view_bounds,
)
from drivestack.viz.summary import scenario_summary


def _highway() -> object:
    """A 2 km two-lane road, the ego at x = 1000 m with a goal 60 m ahead, one car beside it, one far away."""
    agents = [moving(10, 1005.0, LANE_WIDTH, 15.0), moving(11, 1900.0, 0.0, 15.0)]
    return scenario(
        straight_road(num_lanes=2, length=2000.0),
        agents,
        Ego(moving(0, 1000.0, 0.0, 15.0), goal=(1060.0, 0.0)),
    )


def test_view_frames_ego_goal_and_neighbours_not_the_whole_road() -> None:
    xmin, xmax, ymin, ymax = view_bounds(_highway(), 0)  # type: ignore[arg-type]
    assert xmin < 1000.0 - 4 and xmax > 1060.0 + 5  # ego and goal inside
    assert xmax - xmin < 200.0  # far car at x = 1900 and the 2 km road are not
    ratio = (xmax - xmin) / (ymax - ymin)
    style = BevStyle()
    assert style.width / style.heights[1] - 1e-9 <= ratio <= style.width / style.heights[0] + 1e-9


def test_view_holds_the_agents_in_focus_wherever_they_are() -> None:
    built = _highway()
    xmin, xmax, _, _ = view_bounds(built, 0, focus={11})  # type: ignore[arg-type]
    assert xmin < 1000.0 and xmax > 1900.0  # the ego and the tagged car 900 m ahead


def test_view_frames_the_chosen_ego_not_every_ego() -> None:
    # MONA: four problems spread along the road; the view follows one
    built = _highway()
    problem = built.planning_problems[0]  # type: ignore[attr-defined]
    far = dataclasses.replace(problem, id=2, initial=dataclasses.replace(problem.initial, x=1600.0))
    two = dataclasses.replace(built, planning_problems=(problem, far))
    first, second = view_bounds(two, 0), view_bounds(two, 0, problem_id=2)
    assert first[1] < 1300.0 and second[0] > 1300.0
    with pytest.raises(ConfigError, match="no planning problem 3"):
        view_bounds(two, 0, problem_id=3)


def test_scene_wide_tags_are_framed_on_an_ego_known_at_the_step() -> None:
    # MONA: the first problem's vehicle may be gone at the step a braking agent is shown
    from drivestack.core.scenario import EgoState, PlanningProblem

    road = straight_road(num_lanes=2, length=2000.0)
    built = scenario(
        road,
        [moving(50, 1500.0, 0.0, 15.0), moving(10, 1520.0, LANE_WIDTH, 15.0)],
        Ego(moving(0, 1000.0, 0.0, 15.0), recorded=False),  # known at step 0 only
    )
    second = PlanningProblem(2, EgoState(0, 1500.0, 0.0, 0.0, 15.0), built.planning_problems[0].goal)
    two = dataclasses.replace(built, planning_problems=(*built.planning_problems, second))
    figure = render_scene(two, 20, [Tag(two.scenario_id, "high_speed", 10, 0, 49, 30.0)])
    assert "framed on ego 2" in figure._suptitle.get_text()  # type: ignore[union-attr]
    assert figure.axes[0].get_xlim()[0] > 1100.0  # ego 1's start is not in view


def _legend(figure: object, axes: int) -> list[str]:
    """Texts of the legend of the figure's `axes`-th axes (0: map, 1: speed panel)."""
    legend = figure.axes[axes].get_legend()  # type: ignore[attr-defined]
    return [text.get_text() for text in legend.get_texts()]


def test_twin_ego_gets_its_path_and_speed_line_and_the_legend_lists_what_is_drawn() -> None:
    # MONA and inD egos are recorded vehicles kept among the agents (their twins)
    twin = moving(50, 1000.0, 0.0, 15.0)
    built = scenario(
        straight_road(num_lanes=2, length=2000.0),
        [twin, moving(10, 1005.0, LANE_WIDTH, 15.0)],
        Ego(moving(0, 1000.0, 0.0, 15.0), recorded=False, goal=(1900.0, 0.0)),
    )
    (problem,) = built.planning_problems
    drive = ego_drive(built, problem)
    assert drive is not None and len(drive.steps) == 50 and drive.x[-1] == pytest.approx(1000.0 + 15.0 * 4.9)
    figure = render_scene(built, tags=[Tag(built.scenario_id, "low_ttc", 10, 0, 3, 1.5, EGO_ID)])
    assert f"ego {EGO_ID}" in _legend(figure, 1)  # the twin's speed line
    assert "goal" not in _legend(figure, 0)  # 900 m away: not drawn, not listed
    assert "car" in _legend(figure, 0)


def test_speed_panel_shows_the_agents_of_the_step_first() -> None:
    built = _highway()
    tags = [Tag("x", "high_speed", 11, 0, 5, 30.0), Tag("x", "lane_change", 10, 20, 21, 1.0)]
    assert profiled_agents(built, tags, [], 20, 6) == [10, 11]  # type: ignore[arg-type]
    assert profiled_agents(built, tags, [tags[0]], 20, 1) == [11]  # type: ignore[arg-type]


def test_standing_agents_keep_their_last_moving_heading_on_screen() -> None:
    # highD: headings at standstill jump between 0, +-90 and 180 degrees
    from drivestack.viz.bev import displayed

    car = moving(10, 1000.0, 0.0, 0.0)
    car.speed = np.r_[np.full(10, 5.0), np.zeros(40)]
    car.yaw = np.r_[np.full(10, 0.1), np.tile([np.pi / 2, -np.pi / 2, np.pi, 0.0], 10)]
    built = scenario(straight_road(num_lanes=2, length=2000.0), [car], Ego(moving(0, 980.0, 0.0, 5.0)))
    shown = displayed(built.tracks)
    assert np.allclose(shown.yaw, 0.1) and np.array_equal(shown.x, built.tracks.x, equal_nan=True)


def test_choose_focus_picks_a_tag_row_and_its_step() -> None:
    tags = [
        Tag("x", "lane_change", 10, 20, 21, 1.0),
        Tag("x", "lane_change", 11, 5, 6, -1.0),
        Tag("x", "low_ttc", 10, 7, 9, 1.2, 3),
    ]
    assert choose_focus(tags, tag="lane_change") == ([tags[1]], 5)
    assert choose_focus(tags, tag="lane_change", agent=10) == ([tags[0]], 20)
    assert choose_focus(tags, step=8, agent=10) == ([tags[2]], 8)
    assert choose_focus(tags, step=8) == (None, 8)  # the picture takes the tags active there
    with pytest.raises(ConfigError, match="no row of tag low_ttc and agent 10"):
        choose_focus(tags, tag="low_ttc", agent=10, problem_id=4)


def test_render_and_save_png(tmp_path: Path) -> None:
    built = _highway()
    walker = Tag(built.scenario_id, "low_ttc", 10, 0, 3, 1.5)  # type: ignore[attr-defined]
    figure = render_scene(built, tags=[walker])  # type: ignore[arg-type]
    target = save_png(figure, tmp_path / "sub" / "scene.png")
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size[0] == 1320
        assert abs(image.size[1] - figure.get_figheight() * 110) <= 1
        pixels = np.asarray(image.convert("RGB"), dtype=np.int64)
    assert (np.abs(pixels - [201, 42, 42]).sum(axis=-1) < 30).sum() > 100  # the ego's red box is drawn
    assert list(tmp_path.joinpath("sub").iterdir()) == [target]  # no temporary file left behind


def test_summary_lists_problem_goal_recorded_ego_and_tags() -> None:
    built = _highway()
    rows = dict(scenario_summary(built, [Tag("x", "cut_in", 10, 3, 4, 12.5)]))  # type: ignore[arg-type]
    assert rows["agents"] == "2: 2 car"
    assert rows[f"problem {EGO_ID}"].startswith("start step 0 at (1000.0, 0.0) m")
    assert rows["  goal 1"] == "time [0, 49] steps; region 1 rectangle"
    assert rows["  recorded ego"].startswith("yes: 50 states, steps 0-49")
    assert rows["tag cut_in"] == "10 @3-4 (12.5)"


def test_agent_groups_cover_every_type() -> None:
    from drivestack.viz.bev import AGENT_COLORS, agent_group

    assert {agent_group(kind) for kind in AgentType} <= set(AGENT_COLORS)


@pytest.mark.usefixtures("commonroad_root")
def test_show_renders_a_real_scenario(tmp_path: Path) -> None:
    from recorded_data import commonroad_sample

    from drivestack.data.ingest import ingest
    from drivestack.data.mining.runner import mine_store
    from drivestack.data.store import Store

    source = next(path for path in commonroad_sample(1) if "sind" in str(path))
    store = Store.open(tmp_path / "store", create=True)
    ingest([source, *solution_files(source)], store)
    mine_store(store, ["lane_change"])
    (key,) = store.scenario_ids()
    target = tmp_path / "show.png"
    command = ["show", key, "--store", str(store.root), "--png", str(target), "--tag", "lane_change"]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "recorded ego" in result.output and "yes:" in result.output and "tag lane_change" in result.output
    style = BevStyle()
    with Image.open(target) as image:  # map within the style's heights, plus the speed panel
        low, high = ((height + style.profile_height) * style.dpi for height in style.heights)
        assert image.size[0] == style.width * style.dpi and low <= image.size[1] <= high
    assert target.stat().st_size > 50_000


def test_occupancies_are_drawn_at_their_steps_phantoms_dashed() -> None:
    square = Shape(ShapeKind.POLYGON, vertices=np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]]))
    circles = Shape(
        ShapeKind.GROUP, parts=(Shape(ShapeKind.CIRCLE, radius=1.0), Shape(ShapeKind.CIRCLE, 0.5))
    )
    base = _highway()
    scene = dataclasses.replace(
        base,
        occupancies=(
            Occupancy(70, AgentType.CAR, np.array([3, 4], dtype=np.int64), (square, square)),
            Occupancy(71, AgentType.UNKNOWN, np.array([4], dtype=np.int64), (circles,), phantom=True),
        ),
    )

    def drawn(step: int) -> PolyCollection:
        axes = Figure().add_subplot()
        draw_occupancies(axes, scene, step)
        (collection,) = [c for c in axes.collections if isinstance(c, PolyCollection)]
        return collection

    assert len(drawn(2).get_paths()) == 0
    assert len(drawn(3).get_paths()) == 1
    at_four = drawn(4)
    assert len(at_four.get_paths()) == 3  # the square and both circles of the phantom's group
    assert at_four.get_hatch() == "//"
    solid, dashed = at_four.get_linestyles()[0], at_four.get_linestyles()[1]
    assert solid[1] is None and dashed[1] is not None
