#!/usr/bin/env python3
"""The counter function in Python: oprc.function.v1.FunctionService on one port (PORT, default 9001).

One listening socket serves both protocols, like the TypeScript SDK: a connection that opens with
the HTTP/2 preface is gRPC and is relayed to grpcio (FunctionService and grpc.health.v1.Health);
anything else is HTTP/1.1: Connect (what ODGM calls functions with), /healthz and /readyz.

Run with Debian's python3 (python3-grpcio, python3-protobuf):  PORT=9001 /usr/bin/python3 main.py
"""
import os
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402 - after the path to the generated code
from oprc.function.v1 import function_pb2_grpc  # noqa: E402
from oprc_grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

import connect  # noqa: E402
import counter  # noqa: E402

H2_PREFACE = b"PRI * HTTP/2.0"
serving = threading.Event()


class FunctionService(function_pb2_grpc.FunctionServiceServicer):
    def Invoke(self, request, context):  # noqa: N802 - the generated name
        return counter.invoke(request)


class Health(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):  # noqa: N802
        status = health_pb2.HealthCheckResponse.SERVING if serving.is_set() else health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse(status=status)


def relay(a, b):
    """Copies bytes from a to b until either side closes."""
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def is_http2(conn):
    """Peeks at the first bytes without consuming them; bounded, so a silent client costs at most 5 s."""
    conn.settimeout(5)
    deadline = time.monotonic() + 5
    try:
        head = b""
        while len(head) < len(H2_PREFACE) and H2_PREFACE.startswith(head) and time.monotonic() < deadline:
            if head:
                time.sleep(0.005)  # part of the preface arrived; the rest is on its way
            head = conn.recv(len(H2_PREFACE), socket.MSG_PEEK)
            if not head:
                return False
        return head.startswith(H2_PREFACE)
    except OSError:
        return False
    finally:
        conn.settimeout(None)


def serve_connection(conn, addr, grpc_port, http_server):
    if is_http2(conn):
        upstream = socket.create_connection(("127.0.0.1", grpc_port))
        threading.Thread(target=relay, args=(upstream, conn), daemon=True).start()
        relay(conn, upstream)
        upstream.close()
        conn.close()
    else:
        http_server.process_request(conn, addr)  # the threading server answers it on its own thread


def main():
    port = int(os.environ.get("PORT", "9001"))
    host = os.environ.get("HOST", "0.0.0.0")

    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    function_pb2_grpc.add_FunctionServiceServicer_to_server(FunctionService(), grpc_server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()

    in_flight = connect.InFlight()
    http_server = ThreadingHTTPServer((host, port), connect.make_handler(counter.invoke, serving.is_set, in_flight), bind_and_activate=False)
    http_server.daemon_threads = True
    listener = socket.create_server((host, port), reuse_port=False, backlog=128)

    def stop(signum, _frame):
        # Not ready any more, no new connections; answer what is in flight (up to 2 s), then leave.
        serving.clear()
        listener.close()
        done = grpc_server.stop(grace=2)
        deadline = time.monotonic() + 2
        while in_flight.count > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        done.wait(max(0, deadline - time.monotonic()))
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    serving.set()
    print(f"python counter listening on {host}:{port} (gRPC and Connect)", flush=True)
    while True:
        try:
            conn, addr = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve_connection, args=(conn, addr, grpc_port, http_server), daemon=True).start()


if __name__ == "__main__":
    main()
