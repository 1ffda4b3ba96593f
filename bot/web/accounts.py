"""``/admin/accounts``: the console's accounts and their roles, for admins (a view on the
console's blueprint). The same changes as ``scripts/flask users …``, through the same domain
functions, recorded in the audit trail under the admin's name. An admin cannot remove or demote
the last admin, nor themselves: the console would be left without anyone to manage it.
"""

from flask import flash, g, redirect, render_template, request, url_for

from ..domain import accounts
from ..store import users
from . import labels, roles
from .console import bp
from .database import get_db


def _page(error=None, status=200, form=None):
    return render_template("console/accounts.html", accounts=users.names(get_db().conn),
                           roles=users.ROLES, error=error, form=form or {},
                           min_length=users.MIN_PASSWORD_LENGTH), status


@bp.get("/accounts")
@roles.requires(users.ADMIN)
def accounts_page():
    return _page()


@bp.post("/accounts")
@roles.requires(users.ADMIN)
def add_account():
    name = request.form.get("name", "").strip()[:64]
    role = request.form.get("role", users.DEFAULT_ROLE)
    password = request.form.get("password", "")[:1024]
    try:
        users.check_name(name)
        users.check_role(role)
        users.check_password(password)
        accounts.add(get_db(), g.user, name, password, role)
    except users.InvalidUser as exc:
        return _page(_german(str(exc)), 400, {"name": name, "role": role})
    except users.UserExists:
        return _page(f"Ein Konto „{name}“ gibt es schon.", 400, {"name": name, "role": role})
    flash(f"Konto „{name}“ angelegt ({labels.role(role)}). Geben Sie der Person das Passwort "
          "auf sicherem Weg weiter.")
    return redirect(url_for("console.accounts_page"))


@bp.post("/accounts/<name>/role")
@roles.requires(users.ADMIN)
def change_role(name):
    role = request.form.get("role", "")
    if name == g.user:
        return _page("Ihre eigene Rolle kann nur eine andere Person ändern.", 400)
    try:
        accounts.set_role(get_db(), g.user, name, users.check_role(role))
    except users.InvalidUser as exc:
        return _page(_german(str(exc)), 400)
    except users.UserNotFound:
        return _page(f"Es gibt kein Konto „{name}“.", 404)
    except accounts.LastAdmin:
        return _page("Das ist die letzte Administration; es muss eine bleiben.", 400)
    flash(f"„{name}“ hat jetzt die Rolle „{labels.role(role)}“.")
    return redirect(url_for("console.accounts_page"))


@bp.post("/accounts/<name>/remove")
@roles.requires(users.ADMIN)
def remove_account(name):
    if name == g.user:
        return _page("Ihr eigenes Konto kann nur eine andere Person löschen.", 400)
    try:
        accounts.remove(get_db(), g.user, name)
    except users.UserNotFound:
        return _page(f"Es gibt kein Konto „{name}“.", 404)
    except accounts.LastAdmin:
        return _page("Das ist die letzte Administration; es muss eine bleiben.", 400)
    flash(f"Konto „{name}“ gelöscht. Seine Sitzungen enden mit dem nächsten Klick.")
    return redirect(url_for("console.accounts_page"))


def _german(message):
    if message.startswith("the password"):
        return f"Das Passwort braucht mindestens {users.MIN_PASSWORD_LENGTH} Zeichen."
    if message.startswith("the role"):
        return "Diese Rolle gibt es nicht."
    if "reserved" in message:
        return "Dieser Name ist für das Protokoll reserviert (api, cli, nina, unknown)."
    return ("Der Name darf nur Buchstaben, Ziffern und . _ @ - enthalten (höchstens 64 "
            "Zeichen) und muss mit einem Buchstaben oder einer Ziffer beginnen.")
