"""Load generation for SMTP and POP3: workload profiles, a message corpus with ids and
digests, one result-row schema, two engines (a native asyncio engine for throughput
ceilings on one machine, locust for realistic and distributed load), delivery accounting
and statistics.

Nothing imported from this package imports locust: locust monkey-patches the standard
library with gevent when imported, so it lives only in :mod:`.locustfile` and
:mod:`.locust_users`, which run in their own processes (see :mod:`.locust_runner`).
"""
