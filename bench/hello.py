"""The baseline for bench/run.py: a bare Flask app, one route, no extensions.

Served by gunicorn with exactly the settings the Keepwarm app gets, so the ratio between
the two measures what the candidate page costs on top of Flask itself.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"
