"""Charts drawn on the server as SVG geometry: no chart library, no script, no inline style."""


def chart(rows, width=360, height=170, margin=18):
    """Bar geometry for a server-drawn SVG: no chart library, no script, no inline style."""
    top = max([1] + [max(sub, unsub) for _, sub, unsub in rows])
    plot_height = height - 2 * margin
    slot = (width - margin) / max(1, len(rows))
    bar = max(1.0, slot / 2 - 1)
    bars = []
    for index, (day, sub, unsub) in enumerate(rows):
        x = margin + index * slot
        for offset, value, kind in ((0, sub, "subscribed"), (bar, unsub, "unsubscribed")):
            h = plot_height * value / top
            bars.append({"x": round(x + offset, 1), "y": round(height - margin - h, 1),
                         "width": round(bar, 1), "height": round(h, 1), "kind": kind,
                         "day": day, "value": value})
    labels = [{"x": round(margin + index * slot, 1), "text": day.strftime("%d.%m.")}
              # a date label needs about four bars' width; the last week's would be cut off
              for index, (day, _, _) in enumerate(rows)
              if index % 7 == 0 and index <= len(rows) - 4]
    return {"width": width, "height": height, "margin": margin, "top": top, "bars": bars,
            "labels": labels, "baseline": height - margin}
