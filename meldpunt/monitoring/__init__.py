"""/healthz, /readyz and /metrics: what load balancers and Prometheus ask (docs/monitoring.md).

It looks across every layer (the task queue, the outbox, the intake, the clocks), so it sits
at the top, beside the URLs and the management commands.
"""
