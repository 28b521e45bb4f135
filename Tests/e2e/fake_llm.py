"""A fake LLM provider for the tests: OpenAI's Chat Completions (`POST /v1/chat/completions`, the base URL
is `<url>/v1`) and Anthropic's Messages (`POST /v1/messages`, the base URL is `<url>`), speaking their real
wire formats — JSON or server-sent events, tool calls, usage, error bodies and `retry-after`.

It answers deterministically ("echo: <last user message>"), checks the API key, counts requests and the
most it saw at once, and can be scripted: latency, a number of failures with a status (429 with
retry-after, 500, 401), stalls (the head is sent, then nothing), malformed chunks, and a judge (the arguments
of a call to the tool a request forces, as an LLM judge is asked to answer). Runs in a thread of
the test process, so tests script it directly.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from conftest import free_port


@dataclass
class Failure:
    status: int
    retry_after: Optional[str] = None
    message: str = "scripted failure"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLM:
    def __init__(self, api_keys: tuple[str, ...] = ("sk-test-valid",)):
        self.api_keys = set(api_keys)
        self.latency = 0.0
        self.stall_next = 0
        self.malformed_next = 0
        self.failures: list[Failure] = []
        # A judge: given a request's messages, the arguments (JSON text) of its call to the tool it was told to call.
        self.judge: Optional[Callable[[list[dict]], str]] = None
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- scripting ---------------------------------------------------------------------------------
    def start(self) -> "FakeLLM":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, status: int, retry_after: Optional[str] = None, message: str = "scripted failure") -> None:
        with self.lock:
            self.failures += [Failure(status, retry_after, message) for _ in range(count)]

    def reset(self) -> None:
        with self.lock:
            self.latency, self.stall_next, self.malformed_next = 0.0, 0, 0
            self.judge = None
            self.failures.clear()
            self.requests.clear()
            self.in_flight = self.max_in_flight = 0

    @property
    def completions(self) -> list[Recorded]:
        with self.lock:
            return list(self.requests)

    # -- answers -----------------------------------------------------------------------------------
    @staticmethod
    def answer_for(messages: list[dict]) -> str:
        users = [m for m in messages if m.get("role") == "user"]
        content = users[-1]["content"] if users else ""
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return f"echo: {content}"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                anthropic = self.path.rstrip("/").endswith("/v1/messages")
                if not anthropic and not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                with fake.lock:
                    fake.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    self.counted = True
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    # One scripted misbehaviour per request: a failure first, then a stall, then a broken stream.
                    failure = fake.failures.pop(0) if fake.failures else None
                    stall = failure is None and fake.stall_next > 0
                    if stall:
                        fake.stall_next -= 1
                    malformed = failure is None and not stall and fake.malformed_next > 0
                    if malformed:
                        fake.malformed_next -= 1
                    latency = fake.latency
                try:
                    if latency:
                        time.sleep(latency)
                    key = self.headers.get("x-api-key") if anthropic else (self.headers.get("authorization") or "").removeprefix("Bearer ")
                    if key not in fake.api_keys:
                        return self._error(anthropic, Failure(401, message="Incorrect API key provided"))
                    if failure:
                        return self._error(anthropic, failure)
                    if stall:
                        return self._stall()
                    if anthropic:
                        self._anthropic(body, malformed)
                    else:
                        self._openai(body, malformed)
                finally:
                    self._done()

            # -- plumbing --
            def _done(self) -> None:
                """The request stops counting as in flight before its last byte is sent, so a client that
                starts its next call on seeing the end never meets a stale count."""
                if getattr(self, "counted", False):
                    self.counted = False
                    with fake.lock:
                        fake.in_flight -= 1

            def _json(self, status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self._done()
                self.end_headers()
                self.wfile.write(data)

            def _error(self, anthropic: bool, failure: Failure) -> None:
                headers = {"retry-after": failure.retry_after} if failure.retry_after else {}
                if anthropic:
                    kinds = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error"}
                    payload = {"type": "error", "error": {"type": kinds.get(failure.status, "invalid_request_error"), "message": failure.message}}
                else:
                    kinds = {401: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error"}
                    payload = {"error": {"message": failure.message, "type": kinds.get(failure.status, "invalid_request_error"), "param": None, "code": None}}
                self._json(failure.status, payload, headers)

            def _stall(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.flush()
                time.sleep(30)

            def _sse_start(self) -> None:
                # Chunked, as the providers stream: the connection stays open for the next request.
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()

            def _sse(self, data: str, event: Optional[str] = None) -> None:
                text = ((f"event: {event}\n" if event else "") + f"data: {data}\n\n").encode()
                self.wfile.write(f"{len(text):x}\r\n".encode() + text + b"\r\n")
                self.wfile.flush()

            def _sse_end(self) -> None:
                self._done()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _openai(self, body: dict, malformed: bool) -> None:
                messages = body.get("messages", [])
                answer = FakeLLM.answer_for(messages)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
                completion_tokens = len(answer.split())
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
                forced = ((body.get("tool_choice") or {}).get("function") or {}).get("name") if isinstance(body.get("tool_choice"), dict) else None
                judging = fake.judge is not None and forced is not None
                wants_tool = judging or (bool(body.get("tools")) and "use tool" in answer)
                tool_name = forced if judging else (body["tools"][0]["function"]["name"] if wants_tool else None)
                args = fake.judge(messages) if judging else json.dumps({"q": answer})
                base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model", "")}
                if not body.get("stream"):
                    message: dict[str, Any] = {"role": "assistant", "content": None if wants_tool else answer}
                    if wants_tool:
                        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {"name": tool_name, "arguments": args}}]
                    return self._json(200, base | {"object": "chat.completion", "choices": [
                        {"index": 0, "message": message, "finish_reason": "tool_calls" if wants_tool else "stop"}], "usage": usage})
                self._sse_start()
                chunk = base | {"object": "chat.completion.chunk"}
                self._sse(json.dumps(chunk | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}))
                if malformed:
                    self._sse("{not json")
                    self._sse_end()
                    return
                if wants_tool:
                    name = tool_name
                    self._sse(json.dumps(chunk | {"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": args[:5]}}]}, "finish_reason": None}]}))
                    self._sse(json.dumps(chunk | {"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "function": {"arguments": args[5:]}}]}, "finish_reason": None}]}))
                    finish = "tool_calls"
                else:
                    for word in answer.split(" "):
                        piece = word if word == answer.split(" ")[0] else " " + word
                        self._sse(json.dumps(chunk | {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}))
                    finish = "stop"
                self._sse(json.dumps(chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._sse(json.dumps(chunk | {"choices": [], "usage": usage}))
                self._sse("[DONE]")
                self._sse_end()

            def _anthropic(self, body: dict, malformed: bool) -> None:
                if "max_tokens" not in body:
                    return self._error(True, Failure(400, message="max_tokens: Field required"))
                messages = body.get("messages", [])
                answer = FakeLLM.answer_for(messages)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + len(str(body.get("system", "")).split())
                completion_tokens = len(answer.split())
                if not body.get("stream"):
                    return self._json(200, {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                                            "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn",
                                            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}})
                self._sse_start()
                self._sse(json.dumps({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
                                      "content": [], "model": body.get("model"), "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}}), "message_start")
                self._sse(json.dumps({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}), "content_block_start")
                self._sse(json.dumps({"type": "ping"}), "ping")
                if malformed:
                    self._sse("{not json", "content_block_delta")
                    self._sse_end()
                    return
                for word in answer.split(" "):
                    piece = word if word == answer.split(" ")[0] else " " + word
                    self._sse(json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}), "content_block_delta")
                self._sse(json.dumps({"type": "content_block_stop", "index": 0}), "content_block_stop")
                self._sse(json.dumps({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": completion_tokens}}), "message_delta")
                self._sse(json.dumps({"type": "message_stop"}), "message_stop")
                self._sse_end()

        return Handler
