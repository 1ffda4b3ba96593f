"""What a signed-in account may do, checked on the server for every console action.

``login_required`` (``auth``) puts the account's name into ``g.user`` and its role into
``g.role``; a view that changes anything says which role it needs with ``@requires``. A page
only hides buttons the role may not use; the check here is what refuses them.
"""

from functools import wraps

from flask import g, jsonify, render_template, request

from ..store import users
from . import labels


def may(role):
    """Whether the signed-in account has ``role`` or a higher one (also for templates)."""
    return users.at_least(g.get("role"), role)


def refused(role):
    """The answer to an action the account's role does not allow: 403, with what it needs."""
    if request.path.endswith(".json"):
        return jsonify(error=f"your role ({g.get('role')}) may not do this; it needs {role}"), 403
    return render_template(
        "error.html", title="Nicht erlaubt",
        message=f"Ihr Konto ({labels.role(g.get('role'))}) darf das nicht; dafür braucht es die "
                f"Rolle „{labels.role(role)}“. Fragen Sie eine Kollegin oder einen Kollegen "
                "mit dieser Rolle."), 403


def requires(role):
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not may(role):
                return refused(role)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def init_app(app):
    app.jinja_env.globals["may"] = may
