"""The scenario store: Parquet tables in long format plus an embedded, read-only DuckDB catalogue.

`Store.open(root)` opens a store directory; `drivestack.data.ingest` fills it; `drivestack.data.sets`
builds scenario sets and leak-free splits on top of it.
"""

from drivestack.data.store.store import ScenarioFilter, Store, scenario_key, source_key

__all__ = ["ScenarioFilter", "Store", "scenario_key", "source_key"]
