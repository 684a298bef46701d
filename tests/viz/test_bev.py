"""Bird's-eye pictures: framing on a built scene, and `drivestack show` on a real recorded scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scenes import EGO_ID, LANE_WIDTH, Ego, moving, scenario, solution_files, straight_road
from typer.testing import CliRunner

from drivestack.cli import app
from drivestack.core.scenario import AgentType
from drivestack.data.tags import Tag
from drivestack.viz.bev import BevStyle, render_scene, save_png, view_bounds
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
    from drivestack.data.store import Store

    source = next(path for path in commonroad_sample(1) if "sind" in str(path))
    store = Store.open(tmp_path / "store", create=True)
    ingest([source, *solution_files(source)], store)
    (key,) = store.scenario_ids()
    target = tmp_path / "show.png"
    result = CliRunner().invoke(app, ["show", key, "--store", str(store.root), "--png", str(target)])
    assert result.exit_code == 0, result.output
    assert "recorded ego" in result.output and "yes:" in result.output
    style = BevStyle()
    with Image.open(target) as image:  # map within the style's heights, plus the speed panel
        low, high = ((height + style.profile_height) * style.dpi for height in style.heights)
        assert image.size[0] == style.width * style.dpi and low <= image.size[1] <= high
    assert target.stat().st_size > 50_000
