"""One forward pass, watched: trace, counting rules, assembly into a `ModelReport`."""
