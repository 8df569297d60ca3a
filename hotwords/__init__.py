"""Per-tenant hot words: store, normalisation and propagation to every replica."""
