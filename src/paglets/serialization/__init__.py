"""The public face of the wire codec: dataclasses to bytes and back, classes by name."""
