"""Moving paglets between hosts: the acknowledged hand-off of dispatch, clone and retract."""
