"""The apps: the command line, the demo, saved-model loading and the causal-plane benchmark."""
