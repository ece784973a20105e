"""Reading raw log lines: split the header, mine templates with drain3, name what they signal.

The monitor reads the text of the lines a suspicious service wrote (it never sees the twin's
template ids). Each line's header is split with a loghub-style format (date, level, component,
content); the content goes to a drain3 ``TemplateMiner`` (numbers, hex ids, addresses and paths
masked first), which groups lines into clusters whose template text it learns online. A cluster's
template is then matched against the runbook's log signals (:data:`agents.runbook.LOG_SIGNALS`):
what an SRE reads into a line ("x509" is a certificate problem, "timed out" is a timeout from
somewhere). Several signals can match one template, and most signals are written by several
causes: a signal is evidence to weigh, not an answer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from opstwin.agents.runbook import log_signals
from opstwin.twin.logs import LINE_FORMAT

logging.getLogger("drain3").setLevel(logging.WARNING)  # drain3 logs every new cluster at INFO

MASKS = (
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "IP"),
    (r"(?<![\w/])/[\w./-]+", "PATH"),
    (r"\b[0-9a-f]{8,}\b", "ID"),
    (r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])", "NUM"),
)


def miner_config() -> TemplateMinerConfig:
    """The drain3 set-up the monitor uses (and log replays should use, to compare like with like)."""
    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(p, name) for p, name in MASKS]
    config.drain_sim_th = 0.5
    config.drain_depth = 4
    config.parametrize_numeric_tokens = True
    return config


@dataclass(frozen=True)
class Parsed:
    level: str
    component: str
    cluster: int  # drain3 cluster id
    template: str


class LogReader:
    """One monitor's parser: header split, drain3 clusters, and each cluster's signals."""

    def __init__(self, line_format: str = LINE_FORMAT) -> None:
        self.header = re.compile(line_format)
        self.miner = TemplateMiner(config=miner_config())
        self._signals: dict[tuple[int, str], frozenset[str]] = {}

    def parse(self, line: str) -> Parsed | None:
        """Mine one line; None when its header does not fit the format."""
        m = self.header.match(line)
        if m is None:
            return None
        component, content = m.group("component"), m.group("content")
        result = self.miner.add_log_message(f"{component}: {content}")
        return Parsed(m.group("level"), component, int(result["cluster_id"]), result["template_mined"])

    def signals(self, p: Parsed) -> frozenset[str]:
        """The runbook signals of a parsed line's cluster (as its template reads now)."""
        key = (p.cluster, p.template)
        found = self._signals.get(key)
        if found is None:
            found = self._signals[key] = frozenset(log_signals(p.template))
        return found

    def template(self, cluster: int) -> str:
        """A cluster's template as it reads now (drain3 generalises it as lines come)."""
        return self.miner.drain.id_to_cluster[cluster].get_template()

    @property
    def clusters(self) -> int:
        return len(list(self.miner.drain.clusters))
