"""WSGI entry point for bench/throughput.py: the real app on a throwaway database.

Configured only from environment variables that throughput.py and mail_latency.py set (never from
instance/config.py or DATABASE_URL): MECC_BENCH_SECRET_KEY, MECC_BENCH_DATABASE_URI, MECC_BENCH_INSTANCE_PATH,
and, for a mail server, MECC_BENCH_MAIL_SERVER and MECC_BENCH_MAIL_PORT.
"""

import os

from mecc_volunteer import create_app

config = {
    "SECRET_KEY": os.environ["MECC_BENCH_SECRET_KEY"],
    "SQLALCHEMY_DATABASE_URI": os.environ["MECC_BENCH_DATABASE_URI"],
}
if os.environ.get("MECC_BENCH_MAIL_SERVER"):
    config.update(MAIL_SERVER=os.environ["MECC_BENCH_MAIL_SERVER"], MAIL_PORT=int(os.environ["MECC_BENCH_MAIL_PORT"]))

app = create_app(config, instance_path=os.environ["MECC_BENCH_INSTANCE_PATH"])
