"""Named scenario sets and leak-free splits.

A set is a stored list of scenario keys with the definition that produced it (filter, sample size
and seed, or the split it is a part of). Membership is stored, not re-evaluated: a set stays the
same when more data is ingested. `split_set` cuts a set into parts that share no group (recording,
map or dataset), assigning whole groups greedily, largest first, to the part furthest below its
target size; `shared_groups` proves a split leak-free (no group in two parts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from drivestack.core.errors import ConfigError, StoreError
from drivestack.core.names import display_text
from drivestack.data.store import ScenarioFilter, Store
from drivestack.data.store.store import check_name
from drivestack.data.store.tables import SCHEMAS

SPLIT_COLUMNS = {
    "recording": "recording_group",
    "map": "map_key",
    "dataset": "dataset",
    "scenario": "scenario_key",
}
"""`--by` values and the `scenarios` column whose groups a split keeps together."""

_PART = "sets"


@dataclass(frozen=True)
class SetDefinition:
    """How a set was made: a filter and seeded sample, or a part of a split (`split_of`, `split_by`, `ratio`).

    `size` is the number of members; `limit`/`seed` describe the sample, `ratio` the part's target share.
    """

    set_name: str
    size: int
    where_sql: str | None = None
    tags: tuple[str, ...] = ()
    limit: int | None = None
    seed: int | None = None
    split_of: str | None = None
    split_by: str | None = None
    ratio: float | None = None


def create_set(
    store: Store,
    name: str,
    where: str | None = None,
    tags: Sequence[str] = (),
    limit: int | None = None,
    seed: int = 0,
    replace: bool = False,
) -> list[str]:
    """Create set `name` from the scenarios matching `where`/`tags`; with `limit`, a seeded sample.

    The sample is deterministic: the same matching keys and seed give the same members. Returns the
    members in key order. StoreError if the set exists and not `replace`.
    """
    check_name("set", name)
    candidates = store.scenario_ids(ScenarioFilter(where=where, tags=tuple(tags)))
    members = candidates
    if limit is not None:
        if limit < 0:
            raise ConfigError(f"limit must be >= 0, got {limit}")
        if limit < len(candidates):
            chosen = np.random.default_rng(seed).choice(len(candidates), size=limit, replace=False)
            members = [candidates[i] for i in np.sort(chosen)]
    definition = SetDefinition(
        name, len(members), where, tuple(tags), limit, seed if limit is not None else None
    )
    _save(store, [(definition, members)], replace)
    return members


def set_members(store: Store, name: str) -> list[str]:
    """Keys of the scenarios in set `name`, in key order; StoreError when there is no such set."""
    return store.scenario_ids(ScenarioFilter(set_name=name))


def set_definition(store: Store, name: str) -> SetDefinition:
    """The stored definition of set `name`; StoreError when there is no such set."""
    table = store.read_table("set_definitions")
    rows = table.filter(pc.equal(table.column("set_name"), name)).to_pylist()
    if not rows:
        raise StoreError(f"no set named {name!r} in {store.root}")
    row = rows[0]
    return SetDefinition(**{**row, "tags": tuple(row["tags"] or ())})


def list_sets(store: Store) -> pa.Table:
    """One row per set: name, size, number of recording groups, and its definition."""
    return store.query(
        """
        SELECT d.set_name, d.size, count(DISTINCT s.recording_group) AS recording_groups,
               d.where_sql, d.tags, d."limit", d.seed, d.split_of, d.split_by, d.ratio
        FROM set_definitions AS d
        LEFT JOIN sets AS m USING (set_name)
        LEFT JOIN scenarios AS s USING (scenario_key)
        GROUP BY ALL ORDER BY d.set_name
        """
    )


def split_set(
    store: Store,
    name: str,
    by: str = "recording",
    ratios: Sequence[float] = (0.8, 0.2),
    labels: Sequence[str] | None = None,
    seed: int = 0,
    replace: bool = False,
) -> dict[str, list[str]]:
    """Split set `name` into parts "<name>-<label>" (labels default 0, 1, ...) sharing no `by` group.

    Whole groups go, largest first (ties in seeded random order), to the part furthest below its
    target (ratio x set size). Returns {part name: member keys}. ConfigError for bad ratios or fewer
    groups than parts.
    """
    column = _split_column(by)
    weights = np.asarray(ratios, dtype=np.float64)
    if len(weights) < 2 or np.any(weights <= 0) or abs(weights.sum() - 1.0) > 1e-6:
        got = ", ".join(f"{ratio:g}" for ratio in ratios) or "none"
        raise ConfigError(f"ratios must be two or more positive numbers summing to 1, got {got}")
    names = [f"{name}-{label}" for label in (labels if labels is not None else range(len(weights)))]
    if len(names) != len(weights) or len(set(names)) != len(names):
        got = display_text(", ".join(labels or [])) or "none"
        raise ConfigError(f"need {len(weights)} distinct part labels, got {got}")
    for part_name in names:
        check_name("set", part_name)
    members = set_members(store, name)
    groups = _groups(store, column, members)
    if len(groups) < len(weights):
        raise ConfigError(f"set {name!r} has {len(groups)} {by} groups, fewer than the {len(weights)} parts")
    rng = np.random.default_rng(seed)
    group_names = sorted(groups)
    shuffled = [group_names[i] for i in rng.permutation(len(group_names))]
    order = sorted(shuffled, key=lambda group: -len(groups[group]))  # stable: ties keep the seeded order
    targets = weights * len(members)
    counts = np.zeros(len(weights))
    assigned: list[list[str]] = [[] for _ in weights]
    for group in order:
        part = int(np.argmax(targets - counts))
        assigned[part] += groups[group]
        counts[part] += len(groups[group])
    parts = [
        (
            SetDefinition(part_name, len(keys_), split_of=name, split_by=by, ratio=float(w), seed=seed),
            sorted(keys_),
        )
        for part_name, keys_, w in zip(names, assigned, weights, strict=True)
    ]
    _save(store, parts, replace)
    return {definition.set_name: keys_ for definition, keys_ in parts}


def shared_groups(store: Store, names: Sequence[str], by: str = "recording") -> dict[str, list[str]]:
    """{group: the sets holding it} for every `by` group found in more than one of the sets `names`.

    One name that was split expands to its parts. Empty means the sets are leak-free.
    """
    column = _split_column(by)
    names = expand_split(store, names)
    rows = store.query(
        f"""
        SELECT s.{column} AS grp, list(DISTINCT m.set_name ORDER BY m.set_name) AS sets
        FROM sets AS m JOIN scenarios AS s USING (scenario_key)
        WHERE list_contains($1, m.set_name)
        GROUP BY ALL HAVING count(DISTINCT m.set_name) > 1 ORDER BY grp
        """,
        [list(names)],
    ).to_pylist()
    return {str(row["grp"]): list(row["sets"]) for row in rows}


def expand_split(store: Store, names: Sequence[str]) -> list[str]:
    """`names`, or the parts of the split when it is the one name of a set that was split.

    StoreError for an unknown set.
    """
    if len(names) == 1:
        table = store.read_table("set_definitions")
        parts = table.filter(pc.equal(table.column("split_of"), names[0])).column("set_name").to_pylist()
        if parts:
            return sorted(parts)
    for name in names:
        set_definition(store, name)
    return list(names)


def _split_column(by: str) -> str:
    if by not in SPLIT_COLUMNS:
        raise ConfigError(f"cannot split by {by!r}: use one of {', '.join(SPLIT_COLUMNS)}")
    return SPLIT_COLUMNS[by]


def _groups(store: Store, column: str, members: Sequence[str]) -> dict[str, list[str]]:
    """{group value: member keys} for the members of a set."""
    rows = store.query(
        f"SELECT {column} AS grp, list(scenario_key ORDER BY scenario_key) AS keys FROM scenarios "
        "WHERE list_contains($1, scenario_key) GROUP BY ALL",
        [list(members)],
    ).to_pylist()
    return {str(row["grp"]): list(row["keys"]) for row in rows}


def _save(store: Store, sets: Sequence[tuple[SetDefinition, Sequence[str]]], replace: bool) -> None:
    """Store these sets (definitions, members) in one commit; StoreError if one exists and not `replace`."""
    names = [definition.set_name for definition, _ in sets]
    with store.writing():
        existing = sorted(set(names) & set(store.set_names()))
        if existing and not replace:
            raise StoreError(f"set {', '.join(existing)} already exists (use --replace to overwrite)")
        tables = {}
        for table_name in ("sets", "set_definitions"):
            old = store.read_table(table_name)
            tables[table_name] = old.filter(
                pc.invert(pc.is_in(old.column("set_name"), value_set=pa.array(names, pa.string())))
            )
        members = pa.table(
            {
                "set_name": [d.set_name for d, keys in sets for _ in keys],
                "scenario_key": [key for _, keys in sets for key in keys],
            },
            schema=SCHEMAS["sets"],
        )
        definitions = pa.Table.from_pylist(
            [{**asdict(d), "tags": list(d.tags)} for d, _ in sets], schema=SCHEMAS["set_definitions"]
        )
        store.replace_part(
            _PART,
            {
                "sets": pa.concat_tables([tables["sets"], members]).sort_by([("set_name", "ascending")]),
                "set_definitions": pa.concat_tables([tables["set_definitions"], definitions]).sort_by(
                    [("set_name", "ascending")]
                ),
            },
        )
