"""The deep-ei 0.7.0 API: its functions, tables, sample-count rules and topology, on the engine."""
