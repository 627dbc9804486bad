"""One server span per invocation, exported as OTLP/HTTP JSON with the standard library (Debian has
no Python OpenTelemetry SDK). The span joins the caller's trace from the W3C `traceparent` header
ODGM forwards in InvokeRequest.headers, so gateway -> ODGM -> this function is one trace.

On only when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, as the CRM's process
driver does. Spans are queued (bounded: dropped when the collector falls behind) and sent in
batches from one background thread, so an invocation never waits for the collector.
"""
import json
import os
import queue
import re
import secrets
import threading
import time
import urllib.request

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
MAX_QUEUED = 2048
BATCH = 256


class Tracer:
    def __init__(self, environ=os.environ):
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/")
        self.url = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (f"{base}/v1/traces" if base else "")
        self.resource = [
            {"key": "service.name", "value": {"stringValue": environ.get("OTEL_SERVICE_NAME", "pycounter")}},
            *(
                {"key": k.strip(), "value": {"stringValue": v.strip()}}
                for k, _, v in (kv.partition("=") for kv in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if "=" in kv)
            ),
        ]
        self.spans = queue.Queue(MAX_QUEUED)
        if self.url:
            threading.Thread(target=self._export_forever, daemon=True).start()

    def span(self, name, headers, attributes):
        """A context manager timing one server span; `.error(message)` marks it failed."""
        return _Span(self, name, headers, attributes)

    def _finish(self, span):
        if not self.url:
            return
        try:
            self.spans.put_nowait(span)
        except queue.Full:
            pass  # the collector is behind: drop rather than slow invocations down

    def _export_forever(self):
        while True:
            batch = [self.spans.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.spans.get_nowait())
                except queue.Empty:
                    break
            body = {"resourceSpans": [{"resource": {"attributes": self.resource}, "scopeSpans": [{"scope": {"name": "oprc-python-counter"}, "spans": batch}]}]}
            request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST")
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except OSError:
                pass  # tracing must never break the function


class _Span:
    def __init__(self, tracer, name, headers, attributes):
        self.tracer = tracer
        parent = TRACEPARENT.match(headers.get("traceparent", ""))
        self.trace_id = parent.group(1) if parent else secrets.token_hex(16)
        self.parent_id = parent.group(2) if parent else ""
        self.span_id = secrets.token_hex(8)
        self.name = name
        self.attributes = attributes
        self.status = {"code": 1}

    def error(self, message):
        self.status = {"code": 2, "message": message}

    def __enter__(self):
        self.start = time.time_ns()
        return self

    def __exit__(self, exc_type, exc, _tb):
        if exc is not None:
            self.error(f"{exc_type.__name__}: {exc}")
        self.tracer._finish({
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "parentSpanId": self.parent_id,
            "name": self.name,
            "kind": 2,  # SERVER
            "startTimeUnixNano": str(self.start),
            "endTimeUnixNano": str(time.time_ns()),
            "attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in self.attributes.items()],
            "status": self.status,
        })
        return False
