"""IterAlign's building blocks: judges, the constitution proposer, text parsing, and the run report."""
