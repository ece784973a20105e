"""The service graph as SVG text: one circle per service coloured by its state, hosts below.

SVG rather than Mesa's matplotlib network drawing (a PNG) so that the page can be inspected: every
service is a ``<circle class="svc" data-name=... data-state=...>`` whose ``fill`` is the colour of
its state, a fault on it adds a ``circle.fault-marker`` ring and a running action a
``path.action-marker`` diamond, and each host is a ``rect.host``. Hovering shows a ``<title>``.

Layout, chosen to stay readable at 300+ services: services are grouped by layer (the dependency
levels of the topology: entry points on top, what nothing else calls at the bottom), each layer in
rows of evenly spaced nodes in topology order, so a node keeps its place for the whole run. Above
150 services, only the calls around services that are not healthy are drawn (the incident
neighbourhood); below, every call is drawn faintly and those around trouble darker.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from opstwin.viz.model import OpsModel

COLOURS = {"healthy": "#43a047", "degraded": "#f0a202", "faulty": "#d62828", "remediation": "#2f6fde"}
LABELS = {"healthy": "healthy", "degraded": "degraded", "faulty": "faulty", "remediation": "under remediation"}
WIDTH = 1000
LEFT = 70  # room for the layer labels
ALL_EDGES_UP_TO = 150  # services; above it only the incident neighbourhood's calls are drawn


@dataclass(frozen=True)
class Layout:
    """Where each service and host is drawn, and the size of everything."""

    services: list[tuple[float, float]]  # centre per service index
    hosts: list[tuple[float, float]]  # top-left per host index
    layers: list[tuple[float, str]]  # (y, label) per layer
    radius: float
    host_size: float
    labels: bool  # names under the nodes (small estates)
    height: float


def layout(model: OpsModel) -> Layout:
    """Services in rows per layer, hosts in rows at the bottom; fixed for a topology."""
    topo = model.sim.twin.topo
    n = topo.n_services
    if n <= 40:
        r, pitch, row_h = 11.0, 92.0, 52.0
    elif n <= 150:
        r, pitch, row_h = 7.0, 21.0, 24.0
    elif n <= 400:
        r, pitch, row_h = 5.0, 14.0, 16.0
    else:
        r, pitch, row_h = 3.0, 8.0, 10.0
    cols = max(1, int((WIDTH - LEFT - 20) // pitch))
    y = 56.0
    centres: list[tuple[float, float]] = [(0.0, 0.0)] * n
    layers = []
    for k, (a, b) in enumerate(topo.levels):
        count = b - a
        rows = -(-count // cols)
        layers.append((y + (rows - 1) * row_h / 2, "entry" if k == 0 else f"layer {k}"))
        for j in range(count):
            row, col = divmod(j, cols)
            in_row = min(cols, count - row * cols)
            x0 = LEFT + (WIDTH - LEFT - 20 - (in_row - 1) * pitch) / 2
            centres[a + j] = (x0 + col * pitch, y + row * row_h)
        y += rows * row_h + 14
    h = len(topo.hosts)
    size = 22.0 if h <= 30 else 12.0 if h <= 120 else 7.0
    hpitch = size + (34 if h <= 30 else 4)
    hcols = max(1, int((WIDTH - LEFT - 20) // hpitch))
    y += 12
    hosts_y = y
    hosts = []
    for k in range(h):
        row, col = divmod(k, hcols)
        in_row = min(hcols, h - row * hcols)
        x0 = LEFT + (WIDTH - LEFT - 20 - (in_row - 1) * hpitch) / 2 - size / 2
        hosts.append((x0 + col * hpitch, y + row * (size + 18)))
    rows = -(-h // hcols) if h else 0
    layers.append((hosts_y + size / 2, "hosts"))
    height = y + rows * (size + 18) + 10
    return Layout(centres, hosts, layers, r, size, n <= 40, height)


def _title(*lines: str) -> str:
    return f"<title>{escape(chr(10).join(line for line in lines if line))}</title>"


def _legend(counts: dict[str, int], note: str) -> Iterable[str]:
    x = LEFT
    for state, colour in COLOURS.items():
        yield f'<circle cx="{x}" cy="18" r="7" fill="{colour}"/>'
        yield f'<text x="{x + 12}" y="22" class="legend">{LABELS[state]} {counts.get(state, 0)}</text>'
        x += 150 if state == "remediation" else 118
    yield f'<circle cx="{x + 8}" cy="18" r="9" fill="none" stroke="{COLOURS["faulty"]}" stroke-width="2"/>'
    yield f'<text x="{x + 22}" y="22" class="legend">fault</text>'
    yield f'<path d="M {x + 72} 12 l 6 6 l -6 6 l -6 -6 z" fill="#fff" stroke="#111" stroke-width="1.5"/>'
    yield f'<text x="{x + 84}" y="22" class="legend">action</text>'
    if note:
        yield f'<text x="{LEFT}" y="40" class="note">{escape(note)}</text>'


def render(model: OpsModel) -> str:
    """The whole graph for the model's current tick, as one ``<svg>`` element."""
    lay = layout(model)  # O(services): cheaper to redo than to keep anywhere
    topo = model.sim.twin.topo
    services, r = model.services, lay.radius
    counts: dict[str, int] = {}
    for a in services:
        counts[a.state] = counts.get(a.state, 0) + 1
    trouble = {a.index for a in services if a.state != "healthy" or a.alerting}
    big = len(services) > ALL_EDGES_UP_TO
    note = "calls drawn around services in trouble only" if big else ""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="service-graph" width="100%" '
           f'viewBox="0 0 {WIDTH} {lay.height:.0f}" data-tick="{model.tick}" '
           f'style="font-family: sans-serif; background: #fff">',
           "<style>.legend{font-size:13px;fill:#333}.note{font-size:11px;fill:#777}"
           ".layer{font-size:11px;fill:#888}.name{font-size:9px;fill:#444}</style>"]
    out += _legend(counts, note)
    for y, label in lay.layers:
        out.append(f'<text x="6" y="{y + 4:.1f}" class="layer">{label}</text>')
    edges = []
    for a_name, b_name in topo.graph.edges:
        i, j = topo.index(a_name), topo.index(b_name)
        hot = i in trouble or j in trouble
        if big and not hot:
            continue
        (x1, y1), (x2, y2) = lay.services[i], lay.services[j]
        style = 'stroke="#555" stroke-opacity="0.55" stroke-width="1.2"' if hot else \
            'stroke="#999" stroke-opacity="0.18" stroke-width="0.8"'
        edges.append(f'<line class="dep" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>')
    out.append('<g class="edges">' + "".join(edges) + "</g>")
    nodes = []
    for a in services:
        x, y = lay.services[a.index]
        stroke = 'stroke="#111" stroke-width="1.6"' if a.alerting else 'stroke="#fff" stroke-width="1"'
        title = _title(f"{a.name} ({LABELS[a.state]})", f"host {a.host}, layer {a.layer}",
                       f"errors {a.error:.1%}, p99 {a.p99 * 1000:.0f} ms", "alerting" if a.alerting else "",
                       *(f"fault {f}" for f in a.faults), *(f"action {f}" for f in a.actions))
        nodes.append(f'<circle class="svc" data-name="{escape(a.name)}" data-state="{a.state}" cx="{x:.1f}" '
                     f'cy="{y:.1f}" r="{r}" fill="{COLOURS[a.state]}" {stroke}>{title}</circle>')
        if a.faults:
            nodes.append(f'<circle class="fault-marker" data-name="{escape(a.name)}" cx="{x:.1f}" cy="{y:.1f}" '
                         f'r="{r + 3.5:.1f}" fill="none" stroke="{COLOURS["faulty"]}" stroke-width="2"/>')
        if a.actions:
            d = max(4.0, r * 0.6)
            nodes.append(f'<path class="action-marker" data-name="{escape(a.name)}" d="M {x + r:.1f} {y - r - d:.1f} '
                         f'l {d:.1f} {d:.1f} l {-d:.1f} {d:.1f} l {-d:.1f} {-d:.1f} z" fill="#fff" stroke="#111" '
                         f'stroke-width="1.5"/>')
        if lay.labels:
            nodes.append(f'<text class="name" x="{x:.1f}" y="{y + r + 12:.1f}" text-anchor="middle">'
                         f'{escape(a.name)}</text>')
    out.append('<g class="services">' + "".join(nodes) + "</g>")
    hosts = []
    s = lay.host_size
    for hagent, (x, y) in zip(model.hosts, lay.hosts):
        title = _title(f"host {hagent.name} ({LABELS[hagent.state]})", f"{hagent.services} services",
                       *(f"fault {f}" for f in hagent.faults), *(f"action {f}" for f in hagent.actions))
        ring = f'stroke="{COLOURS["faulty"]}" stroke-width="2.5"' if hagent.faults else 'stroke="#fff"'
        hosts.append(f'<rect class="host" data-name="{escape(hagent.name)}" data-state="{hagent.state}" '
                     f'x="{x:.1f}" y="{y:.1f}" width="{s}" height="{s}" rx="3" fill="{COLOURS[hagent.state]}" '
                     f'{ring}>{title}</rect>')
        if s >= 20:
            hosts.append(f'<text class="name" x="{x + s / 2:.1f}" y="{y + s + 11:.1f}" text-anchor="middle">'
                         f'{escape(hagent.name)}</text>')
    out.append('<g class="hosts">' + "".join(hosts) + "</g></svg>")
    return "".join(out)
