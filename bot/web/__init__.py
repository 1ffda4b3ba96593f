"""Every HTTP face of the service: the platform's webhooks, the API, the console, the public
pages, the simulator. Blueprints, request parsing, what templates show. Nothing outside this
package imports it, except the app factory that assembles it.
"""

from flask import jsonify, render_template, request

from .bodies import Request


def init_app(app):
    from . import (accounts, actions, api, api_docs, audit_page, auth, compose, console,
                   corrections, costs_page, csrf, database, fence, gate, handbook, health, media,
                   meta_webhook, metrics, password, poll_page, public, roles, security,
                   simulator, twilio_events, webhook)

    database.init_app(app)
    fence.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    # Before the CSRF check reads a form: an upload's request may be larger than any other.
    media.init_app(app)
    roles.init_app(app)
    # Only the configured platform's webhooks are routes (``gate.platforms_served``).
    served = gate.platforms_served(app)
    if "twilio" in served:
        # Event Streams' sink (``twilio_events``) is on the webhook's blueprint.
        app.register_blueprint(webhook.bp)
    if "meta" in served:
        app.register_blueprint(meta_webhook.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_docs.bp)
    app.register_blueprint(metrics.bp)
    public.init_app(app)
    auth.init_app(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    # The views of compose, actions, corrections, accounts, audit_page, costs_page, password and
    # poll_page are on the console's blueprint:
    # imported above, before it is registered.
    app.register_blueprint(console.bp)
    app.register_blueprint(simulator.bp)
    app.register_blueprint(handbook.bp)

    @app.errorhandler(413)
    def too_large(error):
        if request.path == "/api/media":
            return jsonify(error="the file is too large: at most 16 MB for a video or a PDF, "
                                 "5 MB for a picture"), 413
        if request.path.startswith(("/api/", "/twilio/", "/meta/")):
            return jsonify(error="request too large"), 413
        return render_template("error.html", title="Zu groß",
                               message="Was Sie senden wollten, ist zu groß. Ein Bild darf "
                                       "höchstens 5 MB haben, ein Video oder PDF höchstens "
                                       "16 MB."), 413

    # JSON that parses but cannot be used is a 400 with its reason, on every endpoint.
    app.request_class = Request
