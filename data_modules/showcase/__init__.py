"""Seeded generators of the showcase tasks: small worlds a tiny model can learn on CPU in minutes (issue 18)."""
