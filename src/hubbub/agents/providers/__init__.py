"""Provider interfaces (one per kind) and their implementations, selected by config."""
