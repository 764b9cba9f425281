"""What a paglet author touches: the agent base class, messages, events and errors."""
