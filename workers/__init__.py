"""Background work: queues, job functions and the worker entry point (built out with rq)."""
