"""The engine: typed op wrappers, noise streams, pair tiling, vector counting, the measurement
driver and progress. It imports nothing from the layers above it."""
