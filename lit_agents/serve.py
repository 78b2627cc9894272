"""A minimal OpenAI-compatible HTTP server in front of any local :class:`TextGenerator`.

It serves ``POST /v1/chat/completions`` and ``POST /v1/completions`` (non-streaming) and ``GET /v1/models``,
enough for :class:`~lit_agents.generation.OpenAIGenerator` and other OpenAI clients. Use it to share one local
teacher or judge between processes, and in tests (a real server on 127.0.0.1, no mock of the client). For
throughput at scale use vLLM or TGI, which speak the same protocol. Built on the standard library's
``http.server`` so that serving a tiny model needs no extra dependency.

    python -m lit_agents.serve --port 8000 --tiny llama      # a tiny random model, for wiring checks
    python -m lit_agents.serve --port 8000 --model DIR --api-key-env SERVE_KEY   # clients must send $SERVE_KEY
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any

from lit_agents.generation import TextGenerator


class _Handler(BaseHTTPRequestHandler):
    server: OpenAICompatibleServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout); nothing to answer
            self.close_connection = True

    def _authorized(self) -> bool:
        """With ``api_key`` set, a request must carry ``Authorization: Bearer <key>``; else HTTP 401 (the
        answer never repeats what was sent)."""
        want = self.server.api_key
        if want is None:
            return True
        got = self.headers.get("Authorization", "")
        if hmac.compare_digest(got.encode("utf-8"), f"Bearer {want}".encode()):
            return True
        length = int(self.headers.get("Content-Length", 0) or 0)
        if length:
            self.rfile.read(length)
        self._send(401, {"error": {"message": "invalid or missing API key", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}})
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.model_name, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        length = int(self.headers.get("Content-Length", 0))
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as e:
            self._send(400, {"error": {"message": f"invalid JSON body: {e}", "type": "invalid_request_error"}})
            return
        route = self.path.rstrip("/")
        if route not in ("/v1/chat/completions", "/v1/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        fault = self.server.next_fault()
        if fault is not None and fault(self):
            return
        chat = route.endswith("chat/completions")
        prompt = req.get("messages") if chat else req.get("prompt")
        if not prompt:
            self._send(400, {"error": {"message": "missing 'messages' or 'prompt'", "type": "invalid_request_error"}})
            return
        stop = req.get("stop") or []
        sampling = dict(max_new_tokens=int(req.get("max_tokens") or 64), temperature=float(req.get("temperature", 0.0)),
                        top_p=float(req.get("top_p", 1.0)), stop=[stop] if isinstance(stop, str) else list(stop),
                        seed=req.get("seed"))
        with self.server.lock:  # one generation at a time on the local model
            self.server.requests_served += 1
            text = self.server.generator.generate([prompt], **sampling)[0]
        created = int(time.time())
        choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} if chat
                  else {"index": 0, "text": text, "finish_reason": "stop"})
        self._send(200, {"id": f"cmpl-{uuid.uuid4().hex}", "object": "chat.completion" if chat else "text_completion",
                         "created": created, "model": self.server.model_name, "choices": [choice],
                         "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})


class OpenAICompatibleServer(ThreadingHTTPServer):
    """Serve ``generator`` on ``(host, port)``; ``port=0`` picks a free port (see ``.url``).

    ``faults`` is an optional list of callables ``(handler) -> bool`` consumed one per request before the
    normal answer (a callable that answers the request itself returns True): a way for tests to make the
    server misbehave (HTTP 500/429, slow or malformed answers, dropped connections) deterministically.
    ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get HTTP 401.
    """

    daemon_threads = True

    def __init__(self, generator: TextGenerator, host: str = "127.0.0.1", port: int = 0,
                 model_name: str = "local", faults: list | None = None, api_key: str | None = None):
        super().__init__((host, port), _Handler)
        self.generator, self.model_name, self.api_key = generator, model_name, api_key or None
        self.lock, self.requests_served = threading.Lock(), 0
        self._faults = list(faults or [])
        self._fault_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def next_fault(self):
        with self._fault_lock:
            return self._faults.pop(0) if self._faults else None

    def add_faults(self, faults: list) -> None:
        with self._fault_lock:
            self._faults.extend(faults)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> OpenAICompatibleServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# ---- Faults for OpenAICompatibleServer(faults=[...]): each handles one request, in order. ----------------
# A fault returns True when it answered the request itself, False to let the normal answer follow.

def http_error(code: int, retry_after: float | None = None) -> Callable[[BaseHTTPRequestHandler], bool]:
    """Answer with HTTP ``code`` (e.g. 500, 503, 429 with ``Retry-After``)."""
    def fault(handler) -> bool:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        handler._send(code, {"error": {"message": f"injected HTTP {code}"}}, headers)
        return True
    return fault


def slow(seconds: float) -> Callable[[BaseHTTPRequestHandler], bool]:
    """Wait ``seconds`` before answering normally (past a client's timeout)."""
    def fault(handler) -> bool:
        time.sleep(seconds)
        return False
    return fault


def malformed_json(handler) -> bool:
    """A 200 answer whose JSON body is cut short."""
    body = b'{"id": "x", "choices": [{"message": '
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return True


def dropped_connection(handler) -> bool:
    """Promise 500 bytes, send a few, and close the connection mid-answer."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "500")
    handler.end_headers()
    handler.wfile.write(b'{"id": "cmpl-1", "choi')
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.shutdown(socket.SHUT_RDWR)
    return True


def no_fault(handler) -> bool:
    """Answer normally (a placeholder that keeps later faults on later requests)."""
    return False


def main() -> None:
    from lit_agents.backbone import BackboneConfig, TinySpec
    from lit_agents.generation import TransformersGenerator

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="hub name or local directory of a transformers model")
    src.add_argument("--tiny", choices=["llama", "t5", "bart"], help="a tiny randomly initialised model")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--name", default="local", help="the model id the server reports")
    ap.add_argument("--device", default=None, help="e.g. cuda (default: cpu)")
    ap.add_argument("--dtype", default="float32", help="float32, bfloat16, float16")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--api-key-env", default=None,
                    help="require clients to send the key held by this environment variable (HTTP 401 otherwise)")
    args = ap.parse_args()
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        ap.error(f"--api-key-env: ${args.api_key_env} is not set")
    cfg = BackboneConfig(name_or_path=args.model, dtype=args.dtype) if args.model \
        else BackboneConfig(tiny=TinySpec(arch=args.tiny))
    server = OpenAICompatibleServer(TransformersGenerator(cfg, device=args.device, batch_size=args.batch_size),
                                    args.host, args.port, args.name, api_key=api_key)
    print(f"serving {args.model or 'tiny ' + args.tiny} at {server.url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
