"""Pictures of scenarios and runs: bird's-eye rendering (`bev`), reused by animations and reports."""
