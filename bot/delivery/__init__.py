"""Getting broadcasts out: the send loop, its rate and retry policy, the transports, and the
worker process that runs them. Nothing here knows Flask; the platform is behind
``platforms`` and ``transports``.
"""
