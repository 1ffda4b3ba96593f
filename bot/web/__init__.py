"""Every HTTP face of the service: the platform's webhooks, the API, the console, the public
pages, the simulator. Blueprints, request parsing, what templates show. Nothing outside this
package imports it, except the app factory that assembles it.
"""

from flask import jsonify

from .bodies import Request


def init_app(app):
    from . import (api, auth, compose, console, csrf, database, health, metrics, public,
                   security, simulator, webhook)

    database.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)
    public.init_app(app)
    auth.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    # compose's views are on the console's blueprint: imported above, before it is registered.
    app.register_blueprint(console.bp)
    app.register_blueprint(simulator.bp)

    @app.errorhandler(413)
    def too_large(error):
        return jsonify(error="request too large"), 413

    # JSON that parses but cannot be used is a 400 with its reason, on every endpoint.
    app.request_class = Request
