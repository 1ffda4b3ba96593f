"""Console accounts changed, and the audit entry that says who changed them: one function per
change, each in one write transaction, for the operator's commands and the admins' console page
alike, and a press officer's own new password. The account's name is the entry's target; never
its password.
"""

from ..store import audit, sessions, users
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


def change_own_password(database, user_id, name, password, session_hours):
    """A press officer's new password, set by themselves in the console: every session of the
    account ends (a copy of a cookie taken before is worth nothing), and one is opened anew for
    the browser that changed it; returns its id. The caller has checked the old password."""
    with write(database) as conn:
        users.set_password(conn, name, password)
        ended = sessions.close_all(conn, user_id)
        session_id = sessions.open_session(conn, user_id, session_hours)
        # The one it replaces was open (the change came through it): the rest were elsewhere.
        audit.record(conn, name, "user_password_changed", name,
                     {"sessions_ended": max(0, ended - 1)})
    return session_id
