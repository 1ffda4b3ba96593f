"""Corrections ("Berichtigung"): a broadcast that names the one it corrects (``corrects``) and
goes to exactly those whom that one reached, no one else.

Reached: the platform took the message (sent; delivered and read are further along the same
delivery), and did not report it failed later. Those who have left since are not reached any
more: leaving unlinks a citizen's deliveries (``subscribers``), and someone who comes back is a
new subscriber who never got the original. Nor is anyone who joined later, who has no delivery
of it. Nothing here knows Flask or a platform.
"""

# A delivery of the original that reached its citizen, who is still subscribed.
_REACHED = ("subscribers.id IN (SELECT subscriber_id FROM deliveries WHERE broadcast_id = ? "
            "AND state = 'sent' AND coalesce(receipt, '') != 'failed' "
            "AND subscriber_id IS NOT NULL)")


def reached_by(original_id):
    """(SQL condition on the subscribers table, parameters): those the broadcast
    ``original_id`` reached, as its correction's audience."""
    return _REACHED, (original_id,)


def reached(conn, original_id):
    """How many still-subscribed citizens the broadcast ``original_id`` reached."""
    condition, params = reached_by(original_id)
    return conn.execute(f"SELECT count(*) FROM subscribers WHERE {condition}",
                        params).fetchone()[0]


def of(conn, broadcast_id):
    """The ids of the corrections of a broadcast, oldest first (any status)."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM broadcasts WHERE corrects = ? ORDER BY id", (broadcast_id,))]


def same_since(conn, original_id, text, since):
    """The id of the latest correction of ``original_id`` with exactly ``text`` written at or
    after ``since`` (ISO time) and not discarded, or None."""
    row = conn.execute(
        "SELECT id FROM broadcasts WHERE corrects = ? AND text = ? AND created_at >= ? "
        "AND status != 'discarded' ORDER BY id DESC LIMIT 1",
        (original_id, text, since)).fetchone()
    return None if row is None else row[0]
