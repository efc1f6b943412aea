"""What the tests share besides fixtures: tiny models built from config, and the worker script
that data-parallel tests launch."""
