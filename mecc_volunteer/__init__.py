"""MECC Volunteer: the app factory."""

import os

import sqlalchemy as sa
from flask import Flask, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

from mecc_volunteer import extensions
from mecc_volunteer.config import (
    Config,
    check_deployment_settings,
    database_url,
    default_base_url,
    engine_options,
    instance_path_from_env,
)
from mecc_volunteer.extensions import csrf, db, login_manager, migrate


def create_app(test_config: dict | None = None, *, instance_path: str | None = None) -> Flask:
    if instance_path is None and test_config is None:
        instance_path = instance_path_from_env()
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_object(Config)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
    else:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = database_url(app.instance_path)
    if not app.config.get("BASE_URL"):
        app.config["BASE_URL"] = default_base_url()
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        # Secure cookies whenever the public address is HTTPS.
        app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set: run `make run` once, or set FLASK_SECRET_KEY")
    check_deployment_settings(app.config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)

    from mecc_volunteer import logs

    logs.init_app(app)  # first: every later hook's log lines, and every response, carry the request id

    if hops := app.config["TRUSTED_PROXY_HOPS"]:
        # The client's address, scheme, host, port and path prefix, as the nearest `hops` proxies saw them.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )

    db.init_app(app)
    with app.app_context():
        _tune_engine(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    # Not `mail` here: importing the submodule mecc_volunteer.mail rebinds that package attribute.
    extensions.mail.init_app(app)

    from mecc_volunteer import compression, htmx, page_cache, redaction, security, templating

    page_cache.init_app(app)
    templating.init_app(app)
    security.init_app(app)
    htmx.init_app(app)
    compression.init_app(app)

    from mecc_volunteer.error_pages import register_error_handlers

    register_error_handlers(app)

    from mecc_volunteer.admin import bp as admin_bp
    from mecc_volunteer.auth import access
    from mecc_volunteer.auth import bp as auth_bp
    from mecc_volunteer.evaluation import bp as evaluation_bp
    from mecc_volunteer.evaluation.staff_routes import bp as evaluation_staff_bp
    from mecc_volunteer.exports import bp as exports_bp
    from mecc_volunteer.health import bp as health_bp
    from mecc_volunteer.sessions import bp as sessions_bp
    from mecc_volunteer.volunteers import bp as volunteers_bp
    from mecc_volunteer.volunteers.staff_routes import bp as volunteers_staff_bp

    access.init_app(app)
    redaction.register_converter(app)  # personal-link routes say <secret:token>
    app.register_blueprint(health_bp)
    app.register_blueprint(volunteers_bp)
    app.register_blueprint(volunteers_staff_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(sessions_bp)
    app.register_blueprint(evaluation_staff_bp)
    app.register_blueprint(evaluation_bp)
    app.register_blueprint(exports_bp)
    app.register_blueprint(admin_bp)
    redaction.init_app(app)  # no personal-link secret in any log, from the routes just registered

    from mecc_volunteer import mail as outbox

    outbox.init_app(app)

    from mecc_volunteer.cli import register_cli

    register_cli(app)
    return app


def _tune_engine(engine: sa.Engine) -> None:
    """SQLite: WAL, a busy timeout and BEGIN IMMEDIATE, so concurrent writers queue instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A deferred transaction that reads and then writes can fail with "database is locked" at once
        # instead of waiting its turn, so writers take the lock up front. GET requests never write
        # (nothing changes on GET), so they read without blocking anyone.
        if has_request_context() and request.method in ("GET", "HEAD"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
