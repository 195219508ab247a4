"""Python client of daned, the SMTP DANE (RFC 7672) verdict service.

    from daned_client import ACTION_DELIVER, DanedClient
    with DanedClient("127.0.0.1:8053") as daned:
        verdict = daned.validate("example.com")
        print(verdict.action == ACTION_DELIVER)

Results are the API's own protobuf messages (dane.v1, generated under
daned_client._gen by buf from proto/dane/v1/dane.proto, where every field
is documented). A verdict is data: a domain that fails DANE is a normal
return with action DEFER or REJECT; grpc.RpcError is raised only for
problems with the call itself (INVALID_ARGUMENT for a malformed domain).
"""

import grpc

from daned_client._gen.dane.v1 import dane_pb2, dane_pb2_grpc

__all__ = [
    "DanedClient",
    "dane_pb2",
    "dane_pb2_grpc",
    "ACTION_DELIVER",
    "ACTION_DEFER",
    "ACTION_REJECT",
]

ACTION_DELIVER = dane_pb2.ACTION_DELIVER
ACTION_DEFER = dane_pb2.ACTION_DEFER
ACTION_REJECT = dane_pb2.ACTION_REJECT


class DanedClient:
    """A connection to daned.

    target is "host:port". Without credentials the channel is plaintext,
    for daned on loopback or in the same pod; pass
    grpc.ssl_channel_credentials(...) for TLS or mTLS. timeout bounds each
    call, in seconds.
    """

    def __init__(self, target, credentials=None, timeout=30.0):
        if credentials is None:
            self._channel = grpc.insecure_channel(target)
        else:
            self._channel = grpc.secure_channel(target, credentials)
        self._stub = dane_pb2_grpc.DaneServiceStub(self._channel)
        self._timeout = timeout

    def validate(self, domain, policy_only=False, bypass_cache=False):
        """Returns the dane.v1.ValidateResponse (the verdict) for domain."""
        req = dane_pb2.ValidateRequest(
            domain=domain, policy_only=policy_only, bypass_cache=bypass_cache
        )
        return self._stub.Validate(req, timeout=self._timeout)

    def verify_peer(self, domain, mx_host, chain):
        """Has daned authenticate the DER chain (a list of bytes, server
        certificate first) mx_host presented; returns the
        dane.v1.VerifyPeerResponse."""
        req = dane_pb2.VerifyPeerRequest(
            domain=domain, mx_host=mx_host, chain=list(chain)
        )
        return self._stub.VerifyPeer(req, timeout=self._timeout)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
