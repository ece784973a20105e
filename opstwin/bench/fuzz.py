"""Fuzzing the scenario loader: seeded mutants of the library's scenarios, each validated as
``opstwin validate`` does, counting clean errors, valid files, tracebacks and hangs.

The mutants are a pure function of (seed, count): a mutant is one library file with one to
three mutations, either on its data (a value replaced by a hostile one, a key deleted or
added, an item duplicated, a value moved elsewhere) or on its text (truncated, a byte flipped,
a line duplicated, a hostile YAML snippet such as ``&x [*x]``, a billion laughs, 1,000-deep
nesting or a 5,000-digit integer spliced into a value). Each is loaded in a worker process
under a memory cap; a mutant that takes longer than `timeout` seconds is a hang (the worker
is killed and replaced), one that raises anything but ScenarioError a traceback. ``opstwin
bench fuzz`` prints the figures; tests/test_fuzz.py asserts that tracebacks and hangs are 0.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
MEMORY_CAP = 3 << 30  # bytes of address space for a worker: a runaway mutant fails there, not the machine

DEEP = "[" * 1000 + "]" * 1000
LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "lol"] * 9) + "]\n" for i in range(9))
SNIPPETS = ["&x [*x]", "&y {a: *y}", DEEP, "1" + "0" * 400, "1" * 5000, "-" + "9" * 30, ".inf", "-.inf", ".nan",
            "-1", "0", "1e-300", "0.0000001", "1e308", "1.0e+309", "[]", "{}", "~", "''", "'" + "p" * 300 + "'",
            "!!python/object/apply:os.system ['true']", "*nope", "[a, b", "{a: 1, a: 2}", "!!binary aGk=", "\t1",
            "2001-01-01", "0x10", "0o17", "1_000", "[" + ", ".join(["x"] * 5000) + "]", "? [a]\n  : b", "|\n  text"]
HOSTILE: list[Any] = [-1, 0, 1e-300, 1e308, float("inf"), float("nan"), "", "a" * 300, [], {}, None, True,
                      "1e-300", "999999999h", 2**64, 10**400, "1000000d", [[[]]], {"type": []}, "0s", "-5m",
                      "10 parsecs", "x" * 70, 200_000, 1_000_000, "1TB", "5GiB", "../../etc/passwd", "ünï"]


def library_files(folder: Path = LIBRARY) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


# ---- mutations ---------------------------------------------------------------------------------

def _slots(data: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) below the root, depth first."""
    out: list[tuple[tuple, Any]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        out.append(((*path, k), v))
        out += _slots(v, (*path, k))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for k in path[:-1]:
        data = data[k]
    return data


def _mutate_data(text: str, rng: random.Random) -> str:
    data = yaml.safe_load(text)
    for _ in range(rng.randint(1, 3)):
        slots = _slots(data)
        if not slots:
            break
        path, value = rng.choice(slots)
        parent, key = _parent(data, path), path[-1]
        op = rng.randrange(6)
        if op <= 1:
            parent[key] = rng.choice(HOSTILE)
        elif op == 2:
            del parent[key]
        elif op == 3 and isinstance(parent, list):
            parent.insert(key, parent[key])
        elif op == 3 and isinstance(parent, dict):
            parent[rng.choice(["colour", "seed", "tick", "entry", "type", "<<"])] = rng.choice(HOSTILE)
        else:  # a value from elsewhere (type confusion); shared, so the dump has anchors and aliases
            other, moved = rng.choice(slots)
            parent[key] = copy.deepcopy(moved) if path[:len(other)] == other else moved  # no cycles
    return yaml.safe_dump(data, sort_keys=False, width=10_000)


def _mutate_text(text: str, rng: random.Random) -> str:
    op = rng.randrange(6)
    lines = text.splitlines(keepends=True)
    if op == 0:  # a hostile snippet as the value of a random `key:` line
        keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
        i = rng.choice(keyed)
        head = lines[i].split(":", 1)[0]
        lines[i] = f"{head}: {rng.choice(SNIPPETS)}\n"
        return "".join(lines)
    if op == 1:
        return text[:rng.randrange(len(text))]
    if op == 2:
        raw = bytearray(text.encode())
        raw[rng.randrange(len(raw))] = rng.randrange(256)
        return raw.decode("utf-8", errors="surrogateescape")
    if op == 3:
        i = rng.randrange(len(lines))
        return "".join(lines[:i + 1] + lines[i:])
    if op == 4:
        return LAUGHS + text
    return text.replace("  ", "\t", rng.randint(1, 3))


def mutants(count: int, seed: int, files: list[Path] | None = None) -> Iterator[tuple[str, str]]:
    """(label, text) for `count` mutants, a pure function of (seed, count, the files' text)."""
    files = files or library_files()
    texts = {f.name: f.read_text(encoding="utf-8") for f in files}
    rng = random.Random(seed)
    for i in range(count):
        name = rng.choice(sorted(texts))
        text = texts[name]
        kind = "data" if rng.random() < 0.5 else "text"
        text = _mutate_data(text, rng) if kind == "data" else _mutate_text(text, rng)
        yield f"{i}:{name}:{kind}", text


# ---- the worker --------------------------------------------------------------------------------

def _worker(conn: Any, folder: str) -> None:
    """Validate each text received, as `opstwin validate` does; answer (outcome, detail)."""
    import resource
    import traceback

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    except (ValueError, OSError):  # pragma: no cover - a lower hard limit already
        pass
    from opstwin.scenarios.errors import ScenarioError
    from opstwin.scenarios.loader import load_checked

    path = Path(folder) / "mutant.yaml"
    while True:
        try:
            text = conn.recv()
        except EOFError:
            return
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        try:
            load_checked(path)
            answer = ("valid", "")
        except ScenarioError as exc:
            lines = [str(p) for p in exc.problems]
            answer = ("clean", lines[0] if lines else "") if all("\n" not in line for line in lines) \
                else ("traceback", "a problem of several lines")
        except BaseException as exc:  # noqa: BLE001 - what the fuzzer is looking for
            where = traceback.extract_tb(exc.__traceback__)[-1]
            answer = ("traceback", f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}: "
                                   f"{str(exc)[:120]}")
        conn.send(answer)


class _Worker:
    def __init__(self, folder: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, folder), daemon=True)
        self.proc.start()
        child.close()

    def ask(self, text: str, timeout: float) -> tuple[str, str] | None:
        """(outcome, detail), or None if no answer in `timeout` seconds (or the worker died)."""
        self.conn.send(text)
        try:
            return self.conn.recv() if self.conn.poll(timeout) else None
        except EOFError:
            return ("crash", f"worker died (exit {self.proc.exitcode})")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


def run_fuzz(count: int = 1200, seed: int = 1, timeout: float = 20.0, files: list[Path] | None = None,
             say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Validate `count` mutants; the figures (files, clean_errors, valid, tracebacks, hangs, ...)."""
    files = files or library_files()
    counts = {"valid": 0, "clean": 0, "traceback": 0, "crash": 0, "hang": 0}
    findings: list[str] = []
    slowest = 0.0
    with tempfile.TemporaryDirectory(prefix="opstwin-fuzz-") as folder:
        worker = _Worker(folder)
        try:
            worker.ask(files[0].read_text(encoding="utf-8"), 120.0)  # imports, before timing
            started = time.perf_counter()  # clock-ok: reported, and the hang limit
            for label, text in mutants(count, seed, files):
                t0 = time.perf_counter()  # clock-ok
                answer = worker.ask(text, timeout)
                slowest = max(slowest, time.perf_counter() - t0)  # clock-ok
                if answer is None or answer[0] == "crash":
                    worker.stop()
                    worker = _Worker(folder)
                    worker.ask(files[0].read_text(encoding="utf-8"), 120.0)
                outcome, detail = answer if answer is not None else ("hang", f"no answer in {timeout:g} s")
                counts[outcome] += 1
                if outcome in ("traceback", "crash", "hang"):
                    findings.append(f"{label}: {outcome}: {detail}")
                    if say:
                        say(f"fuzz {label}: {outcome}: {detail}")
            seconds = time.perf_counter() - started  # clock-ok
        finally:
            worker.stop()
    return {"files": count, "seed": seed, "library_files": len(files), "clean_errors": counts["clean"],
            "valid": counts["valid"], "tracebacks": counts["traceback"] + counts["crash"], "hangs": counts["hang"],
            "timeout_seconds": timeout, "seconds": round(seconds, 1), "slowest_seconds": round(slowest, 2),
            "findings": findings}
