"""``GET /healthz``: the app answers and so does its database."""

import sqlite3

from flask import Blueprint, jsonify

from .database import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        get_db().conn.execute("SELECT 1 FROM subscribers LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        return jsonify(status="error", database=str(exc)), 503
    return jsonify(status="ok")
