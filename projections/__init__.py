"""Read models: pure folds of events into rows, one adapter per backend."""
