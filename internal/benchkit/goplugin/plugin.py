"""The go-plugin reference of pyharness's bench: a Python plugin served the
way hashicorp/go-plugin's Python example serves one (a gRPC server on
loopback, the handshake line on stdout, the health service go-plugin
pings), with one method, Echo, and GRPCController's Shutdown so that
Client.Kill ends it at once.

Messages are the raw bytes of the value, with no protobuf encoding: the
Python side only checks that they are UTF-8, as a protobuf string field's
parse does. That is less work than a generated message, so the figures
are an upper bound on go-plugin's speed. Needs grpcio (Debian:
python3-grpcio); run as python3 -c SOURCE.
"""

import sys
import threading
from concurrent import futures
from typing import Any

import grpc

# grpc.health.v1.HealthCheckResponse{status: SERVING}, encoded.
SERVING = b"\x08\x01"


def _same(data: bytes) -> bytes:
    return data


def _unary(fn: Any) -> Any:
    return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=_same, response_serializer=_same)


def main() -> int:
    stopped = threading.Event()

    def echo(request: bytes, context: Any) -> bytes:
        request.decode("utf-8")  # what parsing a protobuf string field checks
        return request

    def check(request: bytes, context: Any) -> bytes:
        return SERVING

    def shutdown(request: bytes, context: Any) -> bytes:
        stopped.set()
        return b""

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)],
    )
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("pyharness.bench.Echo", {"Echo": _unary(echo)}),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": _unary(check)}),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {"Shutdown": _unary(shutdown)}),
    ))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"1|1|tcp|127.0.0.1:{port}|grpc", flush=True)
    stopped.wait()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
