"""Shared setup for the Python SDK cross-checks: a Connection pointed at the simulator.

The SDK hard-codes https://msgapi.threema.ch in ``Connection.urls``; the simulator serves the
same paths at the root of its base URL, so only the origin is replaced.
"""
import argparse

from threema.gateway import Connection

REAL_ORIGIN = 'https://msgapi.threema.ch'


def arguments(description, extra=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--base-url', required=True, help='simulator base URL, no trailing slash')
    parser.add_argument('--id', required=True, help='Gateway ID')
    parser.add_argument('--secret', required=True)
    parser.add_argument('--private-key', required=True, help='64 hex, the Gateway private key')
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def connection(args):
    conn = Connection(args.id, args.secret, key='private:' + args.private_key)
    conn.urls = {name: url.replace(REAL_ORIGIN, args.base_url) for name, url in Connection.urls.items()}
    return conn
