"""A TCP server that tells each client the address it sees it coming from.

``serve ADDRESS PORT``: answer every connection with the peer's address.
``ask ADDRESS PORT``: connect (retrying until the server listens) and print
the answer.  Used to see what NAT did to a connection's source address.
"""

from __future__ import annotations

import socket
import sys
import time

RETRY_FOR_S = 20.0


def serve(address: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen()
        while True:
            conn, peer = server.accept()
            with conn:
                conn.sendall(peer[0].encode())


def ask(address: str, port: int) -> str:
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            with socket.create_connection((address, port), timeout=5) as conn:
                return conn.recv(100).decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    mode, host, port_text = sys.argv[1:4]
    if mode == "serve":
        serve(host, int(port_text))
    else:
        print(ask(host, int(port_text)))
