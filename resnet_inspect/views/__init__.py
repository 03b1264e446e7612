"""Renderers: plain report data in, text/figures out. Nothing here runs a model."""
