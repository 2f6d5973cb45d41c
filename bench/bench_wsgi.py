"""WSGI entry point for bench/throughput.py: the real app on a throwaway database.

Configured only from environment variables that throughput.py sets (never from instance/config.py or
DATABASE_URL): MECC_BENCH_SECRET_KEY, MECC_BENCH_DATABASE_URI, MECC_BENCH_INSTANCE_PATH.
"""

import os

from mecc_volunteer import create_app

app = create_app(
    {
        "SECRET_KEY": os.environ["MECC_BENCH_SECRET_KEY"],
        "SQLALCHEMY_DATABASE_URI": os.environ["MECC_BENCH_DATABASE_URI"],
    },
    instance_path=os.environ["MECC_BENCH_INSTANCE_PATH"],
)
