"""Signs of life of the background processes, for the readiness check and the metrics."""
