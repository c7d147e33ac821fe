"""The load kit's shared, pure building blocks (thresholds to check a run's summary against: slo)."""
