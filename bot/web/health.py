"""``GET /healthz``: the app answers and so does its database, and no failover replaced this
machine."""

import sqlite3

from flask import Blueprint, current_app, jsonify

from ..store import lease
from .database import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        conn = get_db().conn
        conn.execute("SELECT 1 FROM subscribers LIMIT 1").fetchall()
        by = lease.replaced_by(current_app.config["DATABASE_PATH"])
    except sqlite3.Error as exc:
        return jsonify(status="error", database=str(exc)), 503
    if by is not None:
        # Not who replaced it: this answer needs no token.
        return jsonify(status="replaced", since=by["at"]), 503
    return jsonify(status="ok")
