"""RFC 6761 §6.3: names under .localhost resolve to loopback. This machine's resolver has no
nss-myhostname, so the tests map *.localhost to 127.0.0.1 here; nothing in Microsoft's
libraries is changed."""
import socket

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
