"""The bare baseline for bench/throughput.py: one Flask route returning a fixed ~7.5 KB HTML page
(about the size of the real start page, uncompressed). No database, templates, extensions or gzip."""

from flask import Flask

ROW = '<li class="session"><a href="/sessions/{0}/register">MECC conversation skills, session {0}</a></li>\n'
PAGE = (
    '<!doctype html>\n<html lang="en-GB"><head><meta charset="utf-8"><title>Bare baseline</title></head>'
    "<body><main><h1>Upcoming sessions</h1><ul>\n"
    + "".join(ROW.format(n) for n in range(75))
    + "</ul></main></body></html>\n"
)

app = Flask(__name__)


@app.get("/")
def index():
    return PAGE
