#!/usr/bin/python3
"""Prints daned's verdict for a domain; exits 0 on DELIVER, 1 otherwise,
2 when the call fails.

    /usr/bin/python3 clients/python/example.py example.com --server 127.0.0.1:8053
"""

import argparse
import sys

import grpc

from daned_client import ACTION_DELIVER, DanedClient, dane_pb2


def main():
    p = argparse.ArgumentParser(description="Print daned's verdict for a domain.")
    p.add_argument("domain")
    p.add_argument("--server", default="127.0.0.1:8053", help="daned's host:port")
    p.add_argument("--policy-only", action="store_true", help="DNS only, no probes")
    args = p.parse_args()
    try:
        with DanedClient(args.server) as daned:
            v = daned.validate(args.domain, policy_only=args.policy_only)
    except grpc.RpcError as e:
        print(f"{args.domain}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 2
    action = dane_pb2.Action.Name(v.action).removeprefix("ACTION_")
    print(f"{v.domain}: {action} {v.status_code}".rstrip())
    print(f"  policy: {dane_pb2.Policy.Name(v.policy).removeprefix('POLICY_')}")
    print(f"  reason: {dane_pb2.Reason.Name(v.reason).removeprefix('REASON_')}")
    if v.status_text:
        print(f"  why:    {v.status_text}")
    for h in v.mx_hosts:
        policy = dane_pb2.Policy.Name(h.host_policy).removeprefix("POLICY_")
        reason = dane_pb2.Reason.Name(h.reason).removeprefix("REASON_")
        print(f"  MX {h.preference} {h.name}: {policy} {reason}")
    return 0 if v.action == ACTION_DELIVER else 1


if __name__ == "__main__":
    sys.exit(main())
