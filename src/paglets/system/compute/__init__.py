"""The parts of the compute-slots service: admission, the persisted queue, usage sampling."""
