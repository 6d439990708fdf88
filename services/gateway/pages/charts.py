"""Plain SVG charts, made on the server: no script draws them, and each has a text alternative."""

from markupsafe import Markup, escape

WIDTH, HEIGHT, MARGIN = 640, 240, 40


def bars(title: str, items: list[tuple[str, float]], unit: str = "") -> Markup:
    """A bar chart of ``(label, value)``; its title and a table-like description for screen readers."""
    top = max([value for _, value in items] + [1])
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    step = inner_w / max(len(items), 1)
    parts = []
    for i, (label, value) in enumerate(items):
        h = inner_h * value / top
        x = MARGIN + i * step + step * 0.15
        y = MARGIN + inner_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="#0066cc">'
            f"<title>{escape(label)}: {_number(value)}{escape(unit)}</title></rect>"
            f'<text x="{x + step * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="12">{_number(value)}</text>'
            f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - MARGIN + 16:.1f}" text-anchor="middle" '
            f'font-size="11">{escape(_short(label))}</text>'
        )
    description = "; ".join(f"{label}: {_number(value)}{unit}" for label, value in items) or "nessun dato"
    axis = (f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" '
            'stroke="#5c6f82"/>')
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {escape(description)}" class="chart">'
        f"<title>{escape(title)}</title>{axis}{''.join(parts)}</svg>"
    )


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _short(label: str, length: int = 14) -> str:
    return label if len(label) <= length else label[: length - 1] + "…"
