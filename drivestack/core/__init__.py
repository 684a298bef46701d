"""Shared vocabulary of drivestack: scenarios, tracks, goals, lanes, geometry and errors.

`core` imports nothing else from drivestack; every other package builds on it.
"""
