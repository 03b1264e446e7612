"""The network itself: its spec, its blocks, the builder and the named variants."""
