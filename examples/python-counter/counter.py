"""The counter class's functions (the same as examples/counter's TypeScript ones), on protobuf messages.

increment adds `by` (default 1) to the object's `count` entry, get reads it, reset sets it to 0.
Each answers {"count": n}. ODGM sends the object's state and commits the changes returned here
only if the object is still at the version it sent, so the handlers stay simple and race-free.
"""
import json

from google.protobuf import struct_pb2
from oprc.common.v1 import value_pb2
from oprc.function.v1 import function_pb2 as fn

from tracing import Tracer

JSON_HEADERS = {"content-type": "application/json"}
TRACER = Tracer()


def _count_of(request):
    value = request.object.entries.get("count")
    if value is None or value.WhichOneof("kind") != "json" or value.json.WhichOneof("kind") != "number_value":
        return 0
    return value.json.number_value


def _number(n):
    # 15.0 -> 15, so the output reads like the TypeScript counter's.
    return int(n) if float(n).is_integer() else n


def _reply(count, changed):
    response = fn.InvokeResponse(
        status=fn.INVOCATION_STATUS_OK,
        output=json.dumps({"count": _number(count)}).encode(),
        headers=JSON_HEADERS,
    )
    if changed:
        response.state.set["count"].CopyFrom(value_pb2.Value(json=struct_pb2.Value(number_value=count)))
    return response


def _invalid(message):
    return fn.InvokeResponse(status=fn.INVOCATION_STATUS_INVALID, error=message)


def _payload(request):
    if len(request.payload) == 0:
        return {}
    try:
        payload = json.loads(request.payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"payload is not JSON: {e}") from e
    if not isinstance(payload, dict):
        raise ValueError("payload must be a JSON object")
    return payload


def increment(request):
    by = _payload(request).get("by", 1)
    if isinstance(by, bool) or not isinstance(by, (int, float)):
        raise ValueError('"by" must be a number')
    return _reply(_count_of(request) + by, True)


def get(request):
    return _reply(_count_of(request), False)


def reset(request):
    return _reply(0, True)


HANDLERS = {"increment": increment, "get": get, "reset": reset}


def invoke(request):
    """One invocation, as one server span in the caller's trace."""
    attributes = {"oprc.class": request.cls, "oprc.function": request.function, "oprc.invocation_id": request.invocation_id, "oprc.object_id": request.object.id}
    with TRACER.span(f"oprc.function.v1.FunctionService/Invoke {request.function}", request.headers, attributes) as span:
        response = _invoke(request)
        if response.status != fn.INVOCATION_STATUS_OK:
            span.error(response.error)
        return response


def _invoke(request):
    """INVALID for an unknown function, a missing object or a bad payload."""
    handler = HANDLERS.get(request.function)
    if handler is None:
        return _invalid(f'unknown function "{request.function}" (this class has {", ".join(HANDLERS)})')
    if not request.HasField("object"):
        return _invalid(f"{request.function} needs an object (counter functions are stateful)")
    try:
        response = handler(request)
    except ValueError as e:
        return _invalid(str(e))
    # One line per invocation on stdout: what `oprc logs` shows.
    print(f"{request.function} {request.object.id} -> {response.output.decode()}", flush=True)
    return response
