"""Calls to a local model server: `ollama` (the official client) and `openai` (any OpenAI-compatible server:
llama.cpp's server, vLLM, Ollama's /v1), one prompt in, JSON text out, with the token counts.

Both pass the answer schema as the structured-output format (Ollama's ``format``; OpenAI's
``response_format`` of type ``json_schema``, or with ``response_format: json_object`` the
``{type: json_object, schema}`` form llama.cpp's server reads), temperature and seed from the scenario. :meth:`Backend.probe` is the start-up check:
the server answers and has the model (it also returns the model's digest where the server gives
one). Errors are :class:`BackendError` with one line that names the host and the model.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

from opstwin.agents.spec import ReasonerSpec

OLLAMA_DEFAULT = "http://127.0.0.1:11434"
OPENAI_DEFAULT = "http://127.0.0.1:8000/v1"


class BackendError(RuntimeError):
    """A server that cannot be reached, lacks the model, or failed a call (one line)."""


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    answer_tokens: int
    wall_seconds: float  # measured; charged to sim time only with `latency: measured`


class Backend(Protocol):
    name: str
    host: str
    model: str

    def probe(self) -> str | None:
        """Raise BackendError unless the server answers and has the model; the model's digest if known."""

    def chat(self, prompt: str, schema: dict[str, Any]) -> Reply: ...


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class OllamaBackend:
    """The official `ollama` client; host from the scenario, else OLLAMA_HOST, else the default port."""

    name = "ollama"

    def __init__(self, spec: ReasonerSpec) -> None:
        import ollama

        self.spec = spec
        self.model = str(spec.model)
        self.host = spec.host or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT
        self.client = ollama.Client(host=self.host, timeout=spec.timeout)

    def _where(self) -> str:
        return f"ollama server at {self.host}, model {self.model}"

    def probe(self) -> str | None:
        try:
            listed = self.client.list()
        except Exception as exc:  # noqa: BLE001 - ConnectionError, httpx errors, ResponseError
            raise BackendError(f"cannot reach the {self._where()}: {_short(exc)}") from None
        names = {m.model: m for m in listed.models}
        found = names.get(self.model) or (names.get(self.model + ":latest") if ":" not in self.model else None)
        if found is None:
            have = ", ".join(sorted(names)) or "none"
            raise BackendError(f"the {self._where()} does not have that model (it has: {have}); "
                               f"ollama pull {self.model}")
        return found.digest

    def chat(self, prompt: str, schema: dict[str, Any]) -> Reply:
        options = {"temperature": self.spec.temperature, "seed": self.spec.seed, "num_ctx": self.spec.num_ctx,
                   "num_predict": self.spec.max_tokens}
        started = time.perf_counter()  # clock-ok: measured latency, charged only with `latency: measured`
        try:
            r = self.client.chat(model=self.model, messages=[{"role": "user", "content": prompt}], format=schema,
                                 options=options, stream=False)
        except Exception as exc:  # noqa: BLE001 - one line in the log, then the rules back-end
            raise BackendError(f"{self._where()}: {_short(exc)}") from None
        wall = time.perf_counter() - started  # clock-ok
        return Reply(r.message.content or "", int(r.prompt_eval_count or 0), int(r.eval_count or 0), wall)


class OpenAIBackend:
    """The `openai` client against a local OpenAI-compatible server (base URL from the scenario, else
    OPENAI_BASE_URL, else llama.cpp's default); no retries, so a timeout is one timeout."""

    name = "openai"

    def __init__(self, spec: ReasonerSpec) -> None:
        import openai

        self.spec = spec
        self.model = str(spec.model)
        self.host = spec.host or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT
        self.client = openai.OpenAI(base_url=self.host, api_key=os.environ.get("OPENAI_API_KEY") or "local",
                                    timeout=spec.timeout, max_retries=0)

    def _where(self) -> str:
        return f"OpenAI-compatible server at {self.host}, model {self.model}"

    def probe(self) -> str | None:
        try:
            ids = sorted(m.id for m in self.client.models.list())
        except Exception as exc:  # noqa: BLE001 - APIConnectionError, APIStatusError
            raise BackendError(f"cannot reach the {self._where()}: {_short(exc)}") from None
        if self.model not in ids:
            raise BackendError(f"the {self._where()} does not serve that model (it serves: {', '.join(ids) or 'none'})")
        return None  # the OpenAI API names models but gives no digest

    def chat(self, prompt: str, schema: dict[str, Any]) -> Reply:
        if self.spec.response_format == "json_object":  # llama.cpp's server
            fmt: dict[str, Any] = {"type": "json_object", "schema": schema}
        else:
            fmt = {"type": "json_schema", "json_schema": {"name": "diagnosis", "schema": schema, "strict": True}}
        started = time.perf_counter()  # clock-ok: measured latency, charged only with `latency: measured`
        try:
            r = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], temperature=self.spec.temperature,
                seed=self.spec.seed, max_tokens=self.spec.max_tokens, response_format=fmt)
        except Exception as exc:  # noqa: BLE001 - one line in the log, then the rules back-end
            raise BackendError(f"{self._where()}: {_short(exc)}") from None
        wall = time.perf_counter() - started  # clock-ok
        usage = r.usage
        text = r.choices[0].message.content if r.choices else ""
        return Reply(text or "", int(getattr(usage, "prompt_tokens", 0) or 0),
                     int(getattr(usage, "completion_tokens", 0) or 0), wall)


BACKENDS = {"ollama": OllamaBackend, "openai": OpenAIBackend}


def make_backend(spec: ReasonerSpec) -> Backend:
    try:
        return BACKENDS[spec.backend](spec)
    except ImportError as exc:
        raise BackendError(f"reasoner backend {spec.backend} needs the `{exc.name}` package: "
                           f'pip install "opstwin[llm]"') from None
