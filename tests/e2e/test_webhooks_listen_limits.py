"""The real `renewals webhooks listen`: a delivery too large, or not signed, is answered from its headers
while its body is still on the way (the body never ends here), and the listener says it refused it."""

import signal
import socket
import subprocess
import time
from pathlib import Path

from domain.webhooks import SIGNATURE_HEADER, signature
from tests.helpers import BIN, free_port, until_listening


def first_answer(port: int, headers: str) -> bytes:
    """The status line the listener answers with after these headers and a body's first bytes only."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"POST /webhooks HTTP/1.1\r\nHost: sink\r\n{headers}\r\n".encode() + b'{"id": "evt_')
        return conn.recv(4096).split(b"\r\n", 1)[0]  # a timeout (5 s) here: the listener waits for the body


def test_webhooks_listen_answers_oversized_and_unsigned_deliveries_before_their_body(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    folder = tmp_path / "hooks"
    listener = subprocess.Popen(
        [str(BIN / "renewals"), "webhooks", "listen", "--port", str(port), "--folder", str(folder)],
        env={**cli_env, "WEBHOOK_SECRET": "whsec_listen"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        until_listening(listener, port, timeout=20)
        fresh = signature("whsec_listen", int(time.time()), b"{}")
        oversized = first_answer(port, f"Content-Length: {1 << 30}\r\n{SIGNATURE_HEADER}: {fresh}\r\n")
        unsigned = first_answer(port, "Content-Length: 500\r\n")
    finally:
        listener.send_signal(signal.SIGINT)
        output = listener.communicate(timeout=20)[0]
    assert oversized == b"HTTP/1.1 413 Request Entity Too Large"
    assert unsigned == b"HTTP/1.1 401 Unauthorized"
    assert "bodies up to 1 MiB" in output.splitlines()[0]
    assert f"refused a delivery: {1 << 30} bytes, more than {1 << 20}" in output
    assert "refused a delivery: no valid Renewals-Signature header" in output
    assert list(folder.iterdir()) == []
