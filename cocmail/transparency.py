"""The public transparency report of an event, rendered: Markdown, HTML and its chart.

What the report says (groups, counts, outcome and status words, which summaries may
be published) is decided in core/transparency.py; this module only turns that
context into a page. Colours are presentation: they live here, beside the chart.
"""

from __future__ import annotations

import html
from typing import Any

from .core.safe_text import markdown_text, shown
from .core.transparency import GROUPS, EventCounts

# The chart's colour per group (distinct also in greyscale print: dark, mid, light,
# outline).
COLOURS = {"action": "#1f4e79", "flagged": "#c0504d", "no_action": "#9bbb59",
           "open": "#d9d9d9"}


def chart_svg(table: list[EventCounts]) -> str:
    """Stacked bars of reports by outcome group, one bar per event: plain SVG, no script,
    with a <title> and a <desc> that say in words what the bars show."""
    bar, gap, left, top, height = 56, 36, 48, 24, 180
    most = max([t.reports for t in table] + [1])
    width = left + len(table) * (bar + gap) + 280
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{top + height + 64}" viewBox="0 0 {width} {top + height + 64}" '
             'aria-labelledby="chart-title chart-desc" id="chart">',
             '<title id="chart-title">Reports by outcome, per event</title>',
             '<desc id="chart-desc">' + html.escape("; ".join(
                 f"{t.name}: {t.reports} report(s), " + ", ".join(
                     f"{getattr(t, key)} {label.lower()}" for key, label in GROUPS)
                 for t in table)) + "</desc>",
             f'<line x1="{left - 4}" y1="{top + height}" x2="{width - 280}" '
             f'y2="{top + height}" stroke="#333" />']
    for i, t in enumerate(table):
        x = left + i * (bar + gap)
        y = top + height
        for key, label in GROUPS:
            colour = COLOURS[key]
            n = getattr(t, key)
            if not n:
                continue
            h = height * n / most
            y -= h
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                         f'fill="{colour}" stroke="#333" stroke-width="0.5">'
                         f'<title>{html.escape(t.name)}: {n} {html.escape(label.lower())}'
                         '</title></rect>')
        label_y = top + height - height * t.reports / most - 6
        parts.append(f'<text x="{x + bar / 2}" y="{label_y:.1f}" text-anchor="middle" '
                     f'font-size="12">{t.reports}</text>')
        parts.append(f'<text x="{x + bar / 2}" y="{top + height + 16}" text-anchor="middle" '
                     f'font-size="11">{html.escape(_short(t.name))}</text>')
    lx = width - 250
    for k, (key, label) in enumerate(GROUPS):
        colour = COLOURS[key]
        ly = top + 8 + k * 22
        parts.append(f'<rect x="{lx}" y="{ly}" width="14" height="14" fill="{colour}" '
                     'stroke="#333" stroke-width="0.5" />')
        parts.append(f'<text x="{lx + 20}" y="{ly + 12}" font-size="12">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def render_report(context: dict[str, Any], fmt: str) -> str:
    """The report as Markdown ("md") or a self-contained HTML page ("html")."""
    import jinja2

    from .render import TEMPLATES_DIR

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=fmt == "html", undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # Markdown: every value is shown as the characters it holds (no emphasis, HTML or
    # link); HTML: autoescaped. Control characters are escaped in both.
    env.filters["md"] = markdown_text
    env.filters["text"] = lambda value: shown(str(value), lines=False)
    template = env.get_template(f"transparency.{fmt}.j2")
    extra = {"chart": chart_svg(context["table"])} if fmt == "html" else {}
    return template.render(**context, **extra)
