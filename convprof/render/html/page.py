"""The page every HTML report is: one file with its style and script inline, nothing fetched.

Every string that comes from a spec, a model or a report goes through `esc` (text and attribute
values alike), and the page's Content-Security-Policy allows no network at all and no script but its
own (by hash): a name that got past escaping still could not run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable, Sequence
from html import escape

from convprof.version import __version__

__all__ = ["attrs", "esc", "page", "section", "table"]


def esc(value: object) -> str:
    """Return `value` as HTML text or attribute value: &, <, >, " and ' escaped."""
    return escape(str(value), quote=True)


def attrs(**values: object) -> str:
    """Return ` name="value"` pairs, escaped; a name's `_` becomes `-` (data_value: data-value), a
    trailing `_` is dropped (class_: class), and None leaves the attribute out."""
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        key = name.rstrip("_").replace("_", "-")
        parts.append(f' {key}="{esc(value)}"')
    return "".join(parts)


def table(
    headers: Sequence[str],
    rows: Iterable[str],
    *,
    class_: str = "",
    right_from: int = 1,
    caption: str | None = None,
    id_: str | None = None,
) -> str:
    """Return a table of pre-rendered `<tr>` rows under escaped `headers` (numbers right-aligned from
    column `right_from`)."""
    head = "".join(
        f"<th{attrs(class_='num' if i >= right_from else None)}>{esc(h).replace(chr(10), '<br>')}</th>"
        for i, h in enumerate(headers)
    )
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    body = "\n".join(rows)  # a row a line: a page reads (and diffs) as its tables do
    marks = attrs(class_=class_ or None, id=id_)
    return (
        f'<div class="scroll"><table{marks}>{title}<thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def cells(values: Sequence[str], right_from: int = 1) -> str:
    """Return a `<tr>` of escaped text cells."""
    return (
        "<tr>"
        + "".join(
            f"<td{attrs(class_='num' if i >= right_from else None)}>{esc(v)}</td>"
            for i, v in enumerate(values)
        )
        + "</tr>"
    )


def section(anchor: str, heading: str, body: str, *, lead: str | None = None) -> str:
    """Return a section with an anchor, an escaped heading and an optional escaped lead paragraph."""
    intro = f'<p class="lead">{esc(lead)}</p>' if lead else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(heading)}</h2>{intro}{body}</section>'


_STYLE = """
:root{--dense:#d62728;--local:#e6a700;--conv:#2ca02c;--ink:#1d232a;--muted:#5b6570;--rule:#d8dde3;
--band:#f4f6f8;--accent:#2457a6}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);margin:0;background:#fff}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:18px;border-bottom:1px solid var(--rule)}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--rule);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}
.lead,.muted,figcaption{color:var(--muted)}
.meta{color:var(--muted);font-size:12px;margin-bottom:10px}
nav{font-size:13px;margin:8px 0 10px}
nav a{margin-right:14px;color:var(--accent);text-decoration:none}
.savings{font-weight:600;font-size:15px}
.scroll{overflow-x:auto;max-width:100%}
section{content-visibility:auto;contain-intrinsic-size:auto 900px}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{padding:3px 9px;border-bottom:1px solid var(--rule);text-align:left;white-space:nowrap;
vertical-align:top}
th{background:var(--band);font-weight:600;font-size:13px}
td.num,th.num{text-align:right}
td.wrap{white-space:normal;min-width:320px}
tr.block>td{background:#fafbfc;font-weight:600}
tr.block>td.name{cursor:pointer}
tr.block>td.name::before{content:"\\25BE\\00A0";color:var(--muted)}
tr.block.closed>td.name::before{content:"\\25B8\\00A0"}
tr.block.folded>td.name{cursor:default}
tr.block.folded>td.name::before{content:"\\25AA\\00A0"}
tr.added>td{background:#e7f5e9}
tr.removed>td{background:#fbe9e9}
tr.changed>td{background:#fff6d8}
tr[hidden]{display:none}
.variant-dense{color:var(--dense)}.variant-local{color:#a67800}.variant-conv{color:var(--conv)}
.controls{margin:6px 0;font-size:13px}
.controls button,.controls select{font:inherit;padding:2px 8px;margin-right:6px}
.chart{overflow:auto;max-height:78vh;border:1px solid var(--rule);margin:6px 0 12px}
.chart.short{max-height:none}
svg{display:block;font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg text{fill:var(--ink)}
svg .axis{stroke:#9aa3ad;stroke-width:1}
svg .grid{stroke:#e6e9ed;stroke-width:1}
svg .muted{fill:var(--muted)}
svg .unknown{fill:url(#hatch);stroke:#9aa3ad}
.legend{font-size:12px;color:var(--muted);margin:2px 0 6px}
.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:-1px}
.panels{display:flex;flex-wrap:wrap;gap:18px}
.panel{flex:1 1 300px;margin:0}
.notes li{margin:2px 0}
#tip{position:fixed;z-index:10;max-width:460px;background:#1d232a;color:#fff;padding:5px 8px;
border-radius:4px;font-size:12px;pointer-events:none;white-space:pre-wrap}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--rule);margin-top:30px;
padding-top:10px;padding-bottom:30px}
details>summary{cursor:pointer;color:var(--accent)}
@media print{
 body{font-size:11px}
 header,main,footer{max-width:none;padding:0}
 nav,.controls,#tip{display:none!important}
 section{content-visibility:visible}
 .chart{max-height:none;overflow:visible;border:none}
 tr[hidden]{display:table-row}
 section{break-inside:auto}
 figure,svg,tr{break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""

# A little script: tooltips, collapsible blocks of the layer tree, the graph's colouring and the
# receptive field's layer. It sets text with textContent and attributes from the page's own data
# attributes only: nothing it does parses HTML.
_SCRIPT = """
(function () {
  "use strict";
  var tip = document.getElementById("tip");
  function place(e) {
    var x = e.clientX + 14, y = e.clientY + 14, w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth) x = Math.max(0, e.clientX - w - 14);
    if (y + h > window.innerHeight) y = Math.max(0, e.clientY - h - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  // A chart's points share one hover box: the point under the pointer picks its tooltip.
  function text(target, e) {
    if (!target.hasAttribute("data-tips")) return target.getAttribute("data-tip");
    if (!target.tips) target.tips = JSON.parse(target.getAttribute("data-tips"));
    var box = target.getBoundingClientRect();
    var at = Math.floor((e.clientX - box.left) / box.width * target.tips.length);
    return target.tips[Math.max(0, Math.min(target.tips.length - 1, at))];
  }
  function show(e) {
    var target = e.target.closest && e.target.closest("[data-tip], [data-tips]");
    if (!target) { tip.hidden = true; return; }
    tip.textContent = text(target, e);
    tip.hidden = false;
    place(e);
  }
  document.addEventListener("mouseover", show);
  document.addEventListener("mousemove", show);
  document.addEventListener("scroll", function () { tip.hidden = true; }, true);

  // The layer tree: a closed block hides every row whose path is inside its own.
  function refreshTree(table) {
    var open = [];
    table.querySelectorAll("tbody tr[data-path]").forEach(function (row) {
      var path = row.getAttribute("data-path");
      while (open.length && path.indexOf(open[open.length - 1].path + ".") !== 0) open.pop();
      row.hidden = open.some(function (block) { return block.closed; });
      if (row.hasAttribute("data-block")) {
        open.push({path: path, closed: row.classList.contains("closed")});
      }
    });
  }
  document.querySelectorAll("table.tree").forEach(function (table) {
    refreshTree(table);
    table.addEventListener("click", function (e) {
      var cell = e.target.closest("td.name");
      if (!cell) return;
      var row = cell.parentNode;
      if (!row.hasAttribute("data-block") || row.classList.contains("folded")) return;
      row.classList.toggle("closed");
      refreshTree(table);
    });
  });
  document.querySelectorAll("[data-tree-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var table = document.getElementById(button.getAttribute("data-tree"));
      var close = button.getAttribute("data-tree-action") === "collapse";
      table.querySelectorAll("tr[data-block]:not(.folded)").forEach(function (row) {
        row.classList.toggle("closed", close);
      });
      refreshTree(table);
    });
  });

  // The graph's colouring: each node carries its fill for every choice.
  var colour = document.getElementById("graph-colour");
  if (colour) {
    colour.addEventListener("change", function () {
      var key = colour.value;
      document.querySelectorAll("#graph [data-node]").forEach(function (node) {
        node.setAttribute("fill", node.getAttribute("data-fill-" + key));
      });
      var chosen = colour.options[colour.selectedIndex];
      document.getElementById("graph-legend").textContent = chosen.getAttribute("data-legend");
    });
  }

  // The receptive field's layer: each option carries the figure's boxes and sentences.
  var layer = document.getElementById("rf-layer");
  if (layer) {
    layer.addEventListener("change", function () {
      var option = layer.options[layer.selectedIndex];
      document.querySelectorAll("#rf [data-rf]").forEach(function (part) {
        var value = option.getAttribute("data-" + part.getAttribute("data-rf"));
        if (value === null) return;
        if (part.tagName.toLowerCase() === "rect") {
          var box = value.split(",");
          ["x", "y", "width", "height"].forEach(function (name, i) { part.setAttribute(name, box[i]); });
        } else {
          part.textContent = value;
        }
      });
    });
  }
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
"""


@functools.cache
def _script_hash() -> str:
    """The Content-Security-Policy hash of the page's one script: no other script may run."""
    digest = hashlib.sha256(_SCRIPT.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


#: Shared SVG definitions: the hatching of an unknown count.
_DEFS = (
    '<svg width="0" height="0" aria-hidden="true" style="position:absolute"><defs>'
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#f4f6f8"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9aa3ad" '
    'stroke-width="2"/></pattern></defs></svg>'
)


def page(title: str, heading: str, subtitle: str, body: Sequence[str], nav: Sequence[tuple[str, str]]) -> str:
    """Return the whole document: an escaped `title` and `heading`, a `subtitle` line, links to the
    sections in `nav` (anchor, label) and the pre-rendered `body` sections."""
    policy = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src '{_script_hash()}'; base-uri 'none'; form-action 'none'"
    )
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="convprof {esc(__version__)}">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>\n<body>{_DEFS}"
        f'<header><h1>{esc(heading)}</h1><div class="meta">{esc(subtitle)}</div>'
        f"<nav>{links}</nav></header>\n<main>\n" + "\n".join(body) + "\n</main>\n"
        f"<footer>Made by convprof {esc(__version__)}. One file: no network, no external resources.</footer>"
        f'<div id="tip" hidden></div><script>{_SCRIPT}</script></body></html>\n'
    )
