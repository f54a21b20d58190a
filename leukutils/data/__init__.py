"""Data: registry of real datasets, readers per layout, synthetic generator, splits and MIL bags."""
