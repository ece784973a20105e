"""The browser page: a Mesa model that mirrors a running scenario (model.py, agents.py, mirror.py,
svg.py; no solara) and the Solara page that shows it (app.py). Only the CLI imports this package."""
