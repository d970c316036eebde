"""The graph's variants, its closed-form analysis, and the torch model built from it."""
