"""What CI gates with: budgets and growth checks, diffs and merges of saved reports."""
