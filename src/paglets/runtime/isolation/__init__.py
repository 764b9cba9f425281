"""Isolated paglets: a child process per paglet, speaking the hosts' frames over ipc://."""
