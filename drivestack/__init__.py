"""drivestack: an open, Python-first L4 decision-planning stack and driving-data platform."""

__version__ = "0.1.0"
