"""The SPADE/XMPP transport: the same agent logic as SPADE agents exchanging real XMPP messages.

Only this package imports spade (docs/architecture.md). Pieces:

- :mod:`agents.xmpp.server`: the embedded XMPP server (pyjabber) in a child process, on
  loopback and free ports, with the workarounds for its known bugs; ``opstwin xmpp``.
- :mod:`agents.xmpp.wrapper`: the SPADE agent that hosts one logic object and runs its rounds.
- :mod:`agents.xmpp.transport`: :class:`SpadeTransport`, the clock side of the superstep
  protocol (round start with expected counts, round done with the report).
- :mod:`agents.xmpp.worker`: an agents process (``--processes N`` and ``opstwin agents``).
- :mod:`prosody`: a throwaway Prosody on loopback for tests and CI.
"""


def _import_pyjabber_upload_without_litter() -> None:
    """Importing spade imports pyjabber, whose upload plugin makes a ``/tmp/pyjabber_xep0363_*``
    folder at import time, in every process, and never removes it. Import it once with a
    throwaway temp dir instead (clients never serve uploads; the server sets its own)."""
    import shutil
    import tempfile

    before = tempfile.tempdir
    scratch = tempfile.mkdtemp(prefix="opstwin-spade-")
    tempfile.tempdir = scratch
    try:
        import pyjabber.plugins.xep_0363.upload_server  # noqa: F401
    except ImportError:
        pass
    finally:
        tempfile.tempdir = before
        shutil.rmtree(scratch, ignore_errors=True)


_import_pyjabber_upload_without_litter()
