"""Resolves every `*.localhost` name to the loopback address, as browsers
and systemd-resolved do (RFC 6761) and glibc's plain resolver does not, so
clients reach the front door by its real host name (`social.localhost`).
Imported first by the client scenarios."""

import socket

_getaddrinfo = socket.getaddrinfo


def _resolve(host, *args, **kwargs):
    if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _resolve
