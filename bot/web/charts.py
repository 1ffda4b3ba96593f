"""Charts drawn on the server as SVG geometry: no chart library, no script, no inline style."""

# A bar for a day with anything at all stays visible, even beside a day with hundreds.
MIN_BAR = 3.0
# The chart is drawn in a 360-unit-wide box that fills a phone's width: a unit is about a
# pixel there, so the axis text (site.css: 15 units) stays readable on the smallest screen.
LABEL_WIDTH = 48.0   # a date label ("24.11.") at that size
TODAY_WIDTH = 96.0   # and today's ("heute, 24.11.")


def chart(rows, width=360, height=200, margin=40, bottom=28):
    """Bar geometry for a server-drawn SVG: two bars a day (subscribed, unsubscribed), dates
    under the first day of each week and under today ("heute", at the right edge)."""
    top = max([1] + [max(sub, unsub) for _, sub, unsub in rows])
    top_y = 16
    plot_height = height - bottom - top_y
    baseline = height - bottom
    slot = (width - margin) / max(1, len(rows))
    bar = max(1.0, slot / 2 - 1)
    bars = []
    for index, (day, sub, unsub) in enumerate(rows):
        x = margin + index * slot
        for offset, value, kind in ((0, sub, "subscribed"), (bar, unsub, "unsubscribed")):
            h = plot_height * value / top
            if value:
                h = max(h, MIN_BAR)
            bars.append({"x": round(x + offset, 1), "y": round(baseline - h, 1),
                         "width": round(bar, 1), "height": round(h, 1), "kind": kind,
                         "day": day, "value": value})
    labels = []
    if rows:
        for index, (day, _, _) in enumerate(rows):
            x = margin + index * slot
            # A week's label must not run into today's, which is drawn leftwards from the edge.
            if index % 7 == 0 and x + LABEL_WIDTH + 8 <= width - TODAY_WIDTH:
                labels.append({"x": round(x, 1), "text": day.strftime("%d.%m."),
                               "anchor": "start"})
        labels.append({"x": width, "text": rows[-1][0].strftime("heute, %d.%m."),
                       "anchor": "end"})
    return {"width": width, "height": height, "margin": margin, "top": top, "top_y": top_y,
            "bars": bars, "labels": labels, "baseline": baseline}
