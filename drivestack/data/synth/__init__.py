"""Procedural scenarios: lane maps (`roads`) and the traffic that drives on them (`traffic`).

`drivestack.data.generate` composes them into CommonRoad scenarios with planning problems.
"""
