"""One module per command; each keeps torch and rich imports inside its function."""
