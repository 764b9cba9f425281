"""The artifacts of one host: the content-addressed store, its verbs, peer-to-peer streams."""
