"""`diff --format html`: what changed between two reports, as one page with the changed rows marked."""

from __future__ import annotations

from convprof.ci.diff import ReportDiff
from convprof.render.diff import (
    LAYER_COLUMNS,
    TOTAL_COLUMNS,
    elsewhere_note,
    heading,
    layer_rows,
    shown_variants,
    total_entries,
    totals_title,
)
from convprof.render.html.page import attrs, esc, page, section, table

__all__ = ["diff_html"]


def _number(value: int | float | str | None) -> str | None:
    """A figure's exact value for the page's data; None for text (a kind, a shape) or no value."""
    return None if value is None or isinstance(value, str) else str(value)


def diff_html(diff: ReportDiff, *, everything: bool = False) -> str:
    """Return the diff as one self-contained page: the totals (every one with `everything`, the
    changed ones marked) and each variant's layers added, removed and changed, marked by status."""
    sections = []
    nav = []
    if not diff.changed and not everything:
        sections.append(section("totals", "No change", "<p>No total and no layer changed.</p>"))
        nav.append(("totals", "Totals"))
    else:
        rows = []
        for change, cells in total_entries(diff, everything):
            marks = attrs(
                class_="changed" if change.changed else None,
                data_variant=cells[0],
                data_metric=change.metric,
                data_old=_number(change.old),
                data_new=_number(change.new),
            )
            tds = "".join(
                f"<td{attrs(class_='num' if i >= 2 else None)}>{esc(cell)}</td>"
                for i, cell in enumerate(cells)
            )
            rows.append(f"<tr{marks}>{tds}</tr>")
        if rows:
            lead = "Changed rows are marked." if everything else None
            sections.append(
                section(
                    "totals", totals_title(everything), table(TOTAL_COLUMNS, rows, right_from=2), lead=lead
                )
            )
            nav.append(("totals", "Totals"))
        for name in shown_variants(everything):
            changes = diff.variant(name).layers
            if not changes:
                continue
            body = []
            for layer, cells in zip(changes, layer_rows(diff, name), strict=True):
                marks = attrs(class_=layer.status, data_path=layer.path, data_status=layer.status)
                tds = "".join(
                    f"<td{attrs(class_='wrap' if i == 3 else None)}>{esc(c)}</td>"
                    for i, c in enumerate(cells)
                )
                body.append(f"<tr{marks}>{tds}</tr>")
            legend = (
                '<div class="legend"><span class="swatch" style="background:#e7f5e9"></span>added'
                '<span class="swatch" style="background:#fbe9e9"></span>removed'
                '<span class="swatch" style="background:#fff6d8"></span>changed</div>'
            )
            anchor = f"layers-{name}"
            sections.append(
                section(
                    anchor, f"Layers ({name} variant)", legend + table(LAYER_COLUMNS, body, right_from=99)
                )
            )
            nav.append((anchor, f"Layers ({name})"))
        note = elsewhere_note(diff, everything)
        if note:
            sections.append(f'<p class="muted">{esc(note)}</p>')
    subtitle = "Layers are matched by name; positions are 0-based, as in the reports' index. " + (
        "Every variant and every total." if everything else "The conv variant: the model as written."
    )
    return page("convprof diff", heading(diff), subtitle, sections, nav)
