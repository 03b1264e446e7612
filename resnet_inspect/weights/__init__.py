"""Weights files: read without running anything, identify the ResNet they are, explain why a load fails."""
