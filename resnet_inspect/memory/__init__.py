"""What a network needs in memory to run and to train: a simulated allocator over a real step on meta."""
