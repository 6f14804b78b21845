"""The causal plane: every layer of a network measured at once, its rows, the recorder, plots."""
