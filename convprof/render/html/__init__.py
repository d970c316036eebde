"""HTML reports: one self-contained page per result (compare, diff, sweep), no network."""
