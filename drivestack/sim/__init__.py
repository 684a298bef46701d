"""Closed-loop simulation on recorded traffic: the world state, agent policies and the step loop."""
