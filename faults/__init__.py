"""Faults: the catalog of fault types and the injector that puts them into a running twin.

- :mod:`faults.spec` - the scenario's ``faults:`` section (scheduled and seeded random faults);
- :mod:`faults.catalog` - ``CATALOG``: each type's category, target kind, symptoms and fixes;
- :mod:`faults.behaviours` - what each type does to the twin over time (through effects only);
- :mod:`faults.targets` - checks of fault entries against a topology; random target candidates;
- :mod:`faults.injector` - ``Injector``: schedules, injects, resolves, keeps the ground truth.

The twin never imports this package; faults reach it through ``twin.effects`` (and, for a bad
deployment, the twin's own deployment mechanism) and hear of fixes through the control
plane's listeners.
"""
