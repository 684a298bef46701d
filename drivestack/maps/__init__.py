"""Map queries over a scenario's lane graph: spatial lane lookup and lane topology (`index`).

Maps are read by `drivestack.data.formats`; this package only answers questions about them.
"""

from drivestack.maps.index import AssignConfig, MapIndex

__all__ = ["AssignConfig", "MapIndex"]
