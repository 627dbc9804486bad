"""The Connect protocol (unary, HTTP/1.1) for FunctionService and grpc.health.v1, which is what
ODGM speaks to functions (binary protobuf POSTs), plus /healthz and /readyz for the CRM's
process driver. gRPC itself is grpcio's job (main.py sends HTTP/2 connections there).
"""
import json
import threading
from http.server import BaseHTTPRequestHandler

from google.protobuf import json_format
from oprc.function.v1 import function_pb2 as fn
from oprc_grpc_health.v1 import health_pb2

MAX_BODY = 8 * 1024 * 1024

# Connect error codes -> HTTP status (connectrpc.com/docs/protocol#error-codes).
HTTP_STATUS = {"invalid_argument": 400, "not_found": 404, "unimplemented": 404, "internal": 500, "resource_exhausted": 429}


class InFlight:
    """Requests being answered, so a stopping server can wait for them (bounded) before it exits."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self):
        with self._lock:
            self.count += 1

    def __exit__(self, *_exc):
        with self._lock:
            self.count -= 1


def make_handler(invoke, is_serving, in_flight):
    class ConnectHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: ODGM reuses connections

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
            pass  # one line per request would drown the function's own output

        def _send(self, status, content_type, body):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code, message):
            self._send(HTTP_STATUS.get(code, 500), "application/json", json.dumps({"code": code, "message": message}).encode())

        def do_GET(self):  # noqa: N802 - the stdlib's name
            if self.path in ("/healthz", "/readyz"):
                ok = is_serving()
                return self._send(200 if ok else 503, "text/plain", b"ok\n" if ok else b"stopping\n")
            self._error("not_found", f"no route GET {self.path}")

        def do_POST(self):  # noqa: N802
            with in_flight:
                self._post()

        def _post(self):
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                return self._error("resource_exhausted", f"body over {MAX_BODY} bytes")
            body = self.rfile.read(length)
            content_type = (self.headers.get("content-type") or "").split(";")[0].strip()
            binary = content_type in ("application/proto", "application/protobuf")
            if not binary and content_type != "application/json":
                return self._send(415, "application/json", json.dumps({"code": "unimplemented", "message": f"unsupported content-type {content_type!r}"}).encode())
            routes = {
                "/oprc.function.v1.FunctionService/Invoke": (fn.InvokeRequest, invoke),
                "/grpc.health.v1.Health/Check": (health_pb2.HealthCheckRequest, self._health),
            }
            route = routes.get(self.path)
            if route is None:
                return self._error("unimplemented", f"no procedure {self.path}")
            message_type, handle = route
            try:
                request = message_type.FromString(body) if binary else json_format.Parse(body or b"{}", message_type())
            except Exception as e:  # noqa: BLE001 - any decoding failure is the caller's input
                return self._error("invalid_argument", f"cannot decode {message_type.DESCRIPTOR.full_name}: {e}")
            try:
                response = handle(request)
            except Exception as e:  # noqa: BLE001 - a bug in a handler must not kill the server
                return self._error("internal", f"{type(e).__name__}: {e}")
            if binary:
                return self._send(200, "application/proto", response.SerializeToString())
            return self._send(200, "application/json", json_format.MessageToJson(response, indent=None).encode())

        def _health(self, _request):
            status = health_pb2.HealthCheckResponse.SERVING if is_serving() else health_pb2.HealthCheckResponse.NOT_SERVING
            return health_pb2.HealthCheckResponse(status=status)

    return ConnectHandler
