"""``Require`` (mod_authz_core / mod_authz_host): who may reach a ``<Location>``.

A rule is compiled once from the directive's words into a predicate on the
connection's (client, server) addresses; the request path never reaches this
module.  Supported: ``all granted``, ``all denied``, ``local`` and
``ip ADDRESS...``; anything else is a :class:`~mpmd.errors.ConfigError` at
start-up, never a silent grant.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from mpmd.errors import ConfigError, Location
from mpmd.http.exchange import Address

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
#: (client, server) -> may this connection proceed?
AccessCheck = Callable[[Address, Address], bool]

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def compile_require(words: Sequence[str], where: Location | None = None) -> AccessCheck:
    """The predicate for one ``Require`` line, e.g. ``("ip", "10.0.0.0/8")``."""
    provider, args = (words[0].lower(), tuple(words[1:])) if words else ("", ())
    if provider == "all" and len(args) == 1 and args[0].lower() in ("granted", "denied"):
        granted = args[0].lower() == "granted"
        return lambda client, server: granted
    if provider == "local" and not args:
        return is_local
    if provider == "ip" and args:
        networks = tuple(parse_network(arg, where) for arg in args)
        return lambda client, server: _in_networks(client, networks)
    raise ConfigError(f"unsupported Require {' '.join(words)!r} (all granted|denied, "
                      "local, ip ADDRESS...)", where)


def parse_network(text: str, where: Location | None = None) -> IPNetwork:
    """``10.1.2.3``, ``10.1.0.0/16``, ``10.1.0.0/255.255.0.0``, ``2001:db8::/32``, or
    Apache's partial form ``10.1`` (= 10.1.0.0/16)."""
    parts = text.rstrip(".").split(".")
    if "/" not in text and ":" not in text and len(parts) < 4 and all(p.isdigit() for p in parts):
        text = ".".join(parts + ["0"] * (4 - len(parts))) + f"/{8 * len(parts)}"
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ConfigError(f"Require ip: {exc}", where) from exc


def _address(address: Address) -> IPAddr | None:
    if isinstance(address, str):
        return None
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.1 from a dual-stack socket is 10.0.0.1
    return ip


def _in_networks(client: Address, networks: tuple[IPNetwork, ...]) -> bool:
    ip = _address(client)
    return ip is not None and any(ip in net for net in networks)


def is_local(client: Address, server: Address) -> bool:
    """Apache's ``Require local``: loopback, or the same address at both ends.

    A Unix-socket peer is on this host by construction, so it is local too.
    """
    if isinstance(client, str):
        return True
    ip = _address(client)
    if ip is None:
        return False
    return any(ip in net for net in _LOOPBACK) or ip == _address(server)
