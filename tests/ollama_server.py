"""A small test server speaking the part of Ollama's REST API the official `ollama` client uses here.

No Ollama binary can be installed on the test machines, so the `ollama` back-end is tested against
this: a real HTTP server on loopback (the client is the real `ollama` package, unchanged) that
answers ``GET /api/tags`` (the models it has, with digests), ``POST /api/show`` (404 for a model it
lacks, as Ollama does), ``POST /api/chat`` (non-streaming; ``format`` as a JSON schema constrains
the answer, ``options`` carries temperature, seed, num_ctx, num_predict) and ``GET /`` ("Ollama is
running"). Answers come from an :class:`Answerer`: :class:`LlamaAnswerer` is a real model run in
process by llama.cpp (``llama_cpp.Llama``, the schema turned into a grammar); :class:`Scripted`
returns given texts, for crafted answers (made-up components, ids, actions; non-JSON).

Run alone: ``python tests/ollama_server.py MODEL.gguf --name gemma3:270m --port 11434``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol


class Answerer(Protocol):
    def __call__(self, messages: list[dict[str, str]], schema: dict | None, options: dict[str, Any]
                 ) -> tuple[str, int, int]:
        """(answer text, prompt tokens, answer tokens)."""


class Scripted:
    """Answers with the given texts in turn (the last one repeats), each after `delay` wall seconds (a slow
    model); counts tokens as words."""

    def __init__(self, *texts: str, delay: float = 0.0) -> None:
        self.texts = list(texts)
        self.delay = delay
        self.asked: list[list[dict[str, str]]] = []

    def __call__(self, messages, schema, options):
        if self.delay:
            time.sleep(self.delay)
        self.asked.append(messages)
        text = self.texts[min(len(self.asked), len(self.texts)) - 1]
        return text, sum(len(m["content"].split()) for m in messages), len(text.split())


class LlamaAnswerer:
    """A GGUF model in this process (llama.cpp); one call at a time (a llama context is not thread-safe)."""

    def __init__(self, path: Path, n_ctx: int = 4096, chat_format: str = "gemma") -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, chat_format=chat_format, verbose=False, seed=0)
        self.lock = threading.Lock()

    def __call__(self, messages, schema, options):
        fmt = {"type": "json_object", "schema": schema} if isinstance(schema, dict) else (
            {"type": "json_object"} if schema == "json" else None)
        with self.lock:
            r = self.llm.create_chat_completion(
                messages=messages, response_format=fmt, temperature=float(options.get("temperature", 0.0)),
                seed=int(options.get("seed", 0)), max_tokens=int(options.get("num_predict", 512)))
        usage = r.get("usage") or {}
        return (r["choices"][0]["message"]["content"] or "", int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OllamaTestServer:
    """The server on 127.0.0.1 (port 0: any free one) in a thread; `models` maps name -> digest."""

    def __init__(self, answer: Answerer, models: dict[str, str], port: int = 0) -> None:
        self.answer = answer
        self.models = dict(models)
        self.requests: list[tuple[str, dict]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "OllamaTestServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def _find(self, name: str) -> str | None:
        for candidate in (name, name + ":latest"):
            if candidate in self.models:
                return candidate
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, body: dict | str) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    return json.loads(self.rfile.read(n) or b"{}")
                except json.JSONDecodeError:
                    return {}

            def do_HEAD(self) -> None:
                self._send(200, "Ollama is running")

            def do_GET(self) -> None:
                server.requests.append((self.path, {}))
                if self.path == "/":
                    self._send(200, "Ollama is running")
                elif self.path == "/api/tags":
                    self._send(200, {"models": [
                        {"name": n, "model": n, "modified_at": "2026-01-01T00:00:00Z", "size": 0, "digest": d,
                         "details": {"format": "gguf", "family": "test", "parameter_size": "", "quantization_level": ""}}
                        for n, d in sorted(server.models.items())]})
                else:
                    self._send(404, {"error": f"{self.path} not found"})

            def do_POST(self) -> None:
                body = self._body()
                server.requests.append((self.path, body))
                name = server._find(str(body.get("model") or body.get("name") or ""))
                if self.path not in ("/api/chat", "/api/show"):
                    self._send(404, {"error": f"{self.path} not found"})
                elif name is None:
                    self._send(404, {"error": f"model '{body.get('model') or body.get('name')}' not found"})
                elif self.path == "/api/show":
                    self._send(200, {"modelfile": "", "parameters": "", "template": "",
                                     "details": {"format": "gguf", "family": "test"}, "model_info": {}})
                elif body.get("stream", True):
                    self._send(400, {"error": "this test server answers stream=false only"})
                else:
                    text, p, a = server.answer(body.get("messages") or [], body.get("format"), body.get("options") or {})
                    self._send(200, {"model": name, "created_at": "2026-01-01T00:00:00Z",
                                     "message": {"role": "assistant", "content": text}, "done": True,
                                     "done_reason": "stop", "total_duration": 0, "prompt_eval_count": p,
                                     "eval_count": a})

        return Handler


if __name__ == "__main__":  # pragma: no cover - a manual tool
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--name", default="gemma3:270m")
    ap.add_argument("--port", type=int, default=11434)
    args = ap.parse_args()
    srv = OllamaTestServer(LlamaAnswerer(args.model), {args.name: "sha256:" + file_digest(args.model)}, args.port)
    print(f"serving {args.name} at {srv.url}", flush=True)
    srv.httpd.serve_forever()
