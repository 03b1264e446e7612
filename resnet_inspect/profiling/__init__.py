"""Measured cost: latency, memory and the device's own peaks."""
