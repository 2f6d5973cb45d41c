"""Configuration that follows how the app is served."""

import subprocess
from pathlib import Path

from mecc_volunteer.urls import external_url

ROOT = Path(__file__).resolve().parent.parent


def test_links_in_emails_follow_the_port_make_run_serves_on(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_HOST", "127.0.0.1")
    monkeypatch.setenv("FLASK_RUN_PORT", "5101")
    app = make_app(BASE_URL=None)
    with app.app_context():
        assert external_url("volunteers.lost_link") == "http://127.0.0.1:5101/lost-link"


def test_a_configured_base_url_wins_over_the_port(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_PORT", "5101")
    app = make_app(BASE_URL="https://mecc.example.org")
    with app.app_context():
        assert external_url("volunteers.lost_link") == "https://mecc.example.org/lost-link"


def test_a_bind_all_host_links_to_loopback(make_app, monkeypatch):
    monkeypatch.setenv("FLASK_RUN_HOST", "0.0.0.0")
    monkeypatch.delenv("FLASK_RUN_PORT", raising=False)
    app = make_app(BASE_URL=None)
    assert app.config["BASE_URL"] == "http://127.0.0.1:5000"


def test_make_run_passes_its_host_and_port_to_the_server_and_the_jobs():
    recipe = subprocess.run(
        ["make", "-n", "run", "HOST=127.0.0.2", "PORT=5101"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    line = recipe[recipe.index("export FLASK_RUN_HOST") :].replace("\\\n", " ")
    assert "export FLASK_RUN_HOST=127.0.0.2 FLASK_RUN_PORT=5101;" in line
    assert line.index("FLASK_RUN_PORT=5101") < line.index("jobs run") < line.index("--bind 127.0.0.2:5101")
