"""Pure encoding: the msgpack codec, class paths and the request/reply frames. No sockets."""
