"""``GET /healthz``: the app answers and so does its database, and no failover replaced this
machine."""

import sqlite3

from flask import Blueprint, jsonify

from ..store import lease
from .database import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        conn = get_db().conn
        conn.execute("SELECT 1 FROM subscribers LIMIT 1").fetchall()
        by = lease.replaced_by(conn)
    except sqlite3.Error as exc:
        return jsonify(status="error", database=str(exc)), 503
    if by is not None:
        return jsonify(status="replaced", replaced_by=by["owner"], since=by["at"]), 503
    return jsonify(status="ok")
