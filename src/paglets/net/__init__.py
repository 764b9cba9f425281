"""ZeroMQ sockets and the I/O thread that owns them: requests out, requests in, peers."""
