"""Estimators used to evaluate trained policies (not losses: nothing here is differentiated)."""
