"""The Solara page: watch a scenario run, tick by tick, in the browser.

Served by ``opstwin viz [SCENARIO]`` (``solara run`` on this file); the scenario and seed it
opens with come from ``OPSTWIN_VIZ_SCENARIO`` and ``OPSTWIN_VIZ_SEED``. The sidebar holds Mesa's own
SolaraViz controls (``ModelController``: reset, play/pause, step; ``ModelCreator``: scenario, seed,
start time); the main area is one full-width dashboard (SolaraViz's draggable grid would give each
part half the width): the run's numbers, the service graph as SVG (:mod:`opstwin.viz.svg`), plots of
health, open incidents, alerting components and MTTR from the model's ``DataCollector``, and the
incident timeline, newest first. Everything shown is read from :class:`~opstwin.viz.model.OpsModel`.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

import solara
from mesa.visualization import make_plot_component
from mesa.visualization.solara_viz import ModelController, ModelCreator
from mesa.visualization.utils import update_counter

from opstwin.scenarios.library import files, resolve
from opstwin.scenarios.loader import load
from opstwin.viz.model import OpsModel
from opstwin.viz.svg import COLOURS, render

TIMELINE_SHOWN = 30
KIND_COLOURS = {"fault": COLOURS["faulty"], "fixed": COLOURS["healthy"], "action": COLOURS["remediation"],
                "done": COLOURS["healthy"], "failed": COLOURS["faulty"], "undo": "#8e24aa", "escalation": "#8e24aa",
                "alert": COLOURS["degraded"], "incident": "#555", "diagnosis": "#555", "award": "#555",
                "closed": COLOURS["healthy"]}


def model_params() -> dict:
    """The sidebar's inputs, opening on the scenario and seed that `opstwin viz` was given."""
    chosen = os.environ.get("OPSTWIN_VIZ_SCENARIO", "storm")
    path = resolve(chosen)
    library = files()
    names = sorted(library)
    name = next((n for n, p in library.items() if Path(p).resolve() == path.resolve()), str(path))
    if name not in names:
        names.append(name)
    scenario = load(path)
    seed = int(os.environ.get("OPSTWIN_VIZ_SEED", scenario.seed))
    return {
        "scenario": {"type": "Select", "value": name, "values": names, "label": "Scenario"},
        "seed": {"type": "SliderInt", "value": seed, "min": 0, "max": max(100, seed), "step": 1, "label": "Seed"},
        "warmup_minutes": {"type": "SliderInt", "value": 0, "min": 0, "max": int(scenario.duration // 60),
                           "step": 10, "label": "Start at (sim minutes)"},
    }


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def stats_html(model: OpsModel) -> str:
    """One line of the run's numbers (ids for tests: tick, health, incidents)."""
    m, sim = model.mirror, model.sim
    health = sim.health[-1] if sim.health else 1.0
    mttr = f"{m.mttr_s / 60:.1f} min" if m.mttr_s is not None else "-"
    done = " · run finished" if not model.running else ""
    cells = [("tick", f"{model.tick}", "tick"), ("sim time", _clock(sim.now), "time"),
             ("health H", f"{health:.3f}", "health"), ("open incidents", f"{len(m.incidents)}", "incidents"),
             ("alerting", f"{len(m.alerting)}", "alerting"), ("active faults", f"{len(m.faults)}", "faults"),
             ("actions running", f"{len(m.actions)}", "actions"), ("MTTR so far", mttr, "mttr")]
    body = "".join(f'<div style="margin-right:22px"><div style="font-size:11px;color:#777">{label}</div>'
                   f'<div id="stat-{key}" style="font-size:20px;font-weight:600">{value}</div></div>'
                   for label, value, key in cells)
    title = (f'<div style="font-size:13px;color:#555;margin-bottom:6px">{escape(model.scenario.name)}: '
             f'{escape(model.scenario.description)} (seed {model.sim.seed}){done}</div>')
    return f'{title}<div style="display:flex;flex-wrap:wrap">{body}</div>'


def timeline_html(model: OpsModel) -> str:
    """The latest entries of the incident timeline, newest first."""
    entries = model.mirror.timeline[-TIMELINE_SHOWN:][::-1]
    if not entries:
        return '<div class="timeline" style="color:#777">Nothing has happened yet: step or play the run.</div>'
    rows = "".join(
        f'<li data-kind="{e.kind}" style="margin:2px 0"><span style="font-family:monospace;color:#777">'
        f'{_clock(e.t)}</span> <b style="color:{KIND_COLOURS.get(e.kind, "#333")}">{e.kind}</b> {escape(e.text)}</li>'
        for e in entries)
    return f'<ol class="timeline" style="list-style:none;padding-left:0;margin:0;font-size:13px">{rows}</ol>'


def _titled(title: str, low: float | None = None, high: float | None = None):
    """A plot's finishing touch: its title, ticks on the x axis, and fixed y limits where given."""

    def post(ax) -> None:
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("tick")
        if low is not None or high is not None:
            ax.set_ylim(low, high)
        ax.figure.set_size_inches(4.2, 2.8)
        ax.figure.tight_layout()

    return post


PLOTS = [make_plot_component({"health": "#2f6fde"}, post_process=_titled("health H (ground truth)", None, 1.005))[0],
         make_plot_component({"open incidents": "#d62828", "alerting": "#f0a202"},
                             post_process=_titled("open incidents, alerting components", -0.2))[0],
         make_plot_component({"MTTR (min)": "#555"}, post_process=_titled("MTTR so far (min)", -0.1))[0]]


@solara.component
def Dashboard(model: OpsModel) -> None:
    """Numbers, graph, plots and timeline of the model's current tick."""
    update_counter.get()  # redrawn whenever the controller steps the model
    with solara.Column(style={"padding": "8px", "width": "100%"}):
        solara.HTML(tag="div", unsafe_innerHTML=stats_html(model))
        with solara.Card("Services by layer, coloured by state (hover for details)"):
            solara.HTML(tag="div", unsafe_innerHTML=render(model), attributes={"id": "service-graph"})
        with solara.Columns([1, 1, 1]):
            for plot in PLOTS:
                plot(model)
        with solara.Card("Incident timeline (newest first)"):
            solara.HTML(tag="div", unsafe_innerHTML=timeline_html(model))


@solara.component
def Page() -> None:
    """The page: Mesa's controls in the sidebar, the dashboard beside them."""
    params = solara.use_memo(model_params, [])
    model = solara.use_reactive(solara.use_memo(
        lambda: OpsModel(**{k: v["value"] for k, v in params.items()}), []))
    chosen = solara.use_reactive({})
    interval, per_click, threads = solara.use_reactive(150), solara.use_reactive(1), solara.use_reactive(False)
    solara.Title("opstwin: watch a run")
    with solara.AppBar():
        solara.AppBarTitle("opstwin · watch a run")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            ModelController(model, model_parameters=chosen, play_interval=interval, render_interval=per_click,
                            use_threads=threads)
            solara.SliderInt("Ticks per step", value=per_click, min=1, max=60, thumb_label="always")
            solara.SliderInt("Play interval (ms)", value=interval, min=20, max=1000, step=10, thumb_label="always")
        with solara.Card("Scenario (Reset applies)"):
            ModelCreator(model, params, model_parameters=chosen)
    Dashboard(model.value)
