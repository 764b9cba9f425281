"""System paglets every host can run: built-in services and the paglets behind the CLIs."""
