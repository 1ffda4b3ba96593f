"""Console accounts changed, and the audit entry that says who changed them: one function per
change, each in one write transaction, for the operator's commands and the admins' console page
alike. The account's name is the entry's target; never its password.
"""

from ..store import audit, users
from ..store.db import write


class LastAdmin(Exception):
    """The change would leave no admin, and so nobody who can manage accounts in the console."""


def add(database, actor, name, password, role=users.DEFAULT_ROLE):
    with write(database) as conn:
        users.add(conn, name, password, role)
        audit.record(conn, actor, "user_added", name, {"role": role})


def remove(database, actor, name):
    with write(database) as conn:
        role = users.role_of(conn, name)
        if role == users.ADMIN and actor != audit.CLI and users.count_admins(conn) <= 1:
            raise LastAdmin(name)
        users.remove(conn, name)
        audit.record(conn, actor, "user_removed", name, {"role": role})


def set_role(database, actor, name, role):
    """Returns the role the account had."""
    with write(database) as conn:
        before = users.role_of(conn, name)
        if (before == users.ADMIN and role != users.ADMIN and actor != audit.CLI
                and users.count_admins(conn) <= 1):
            raise LastAdmin(name)
        users.set_role(conn, name, role)
        if before != role:
            audit.record(conn, actor, "user_role_changed", name, {"from": before, "to": role})
        return before


def set_password(database, actor, name, password):
    with write(database) as conn:
        users.set_password(conn, name, password)
        audit.record(conn, actor, "user_password_changed", name)
