"""With a mesh secret, a capture of the traffic shows none of it in plain text.

The capture runs inside a private network namespace the test creates (``unshare -rn``)
with a raw packet socket on its loopback, so it sees nothing of the machine's own
traffic. A run without a secret is the control: there the payload must show up,
which proves the capture sees the messages at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PAYLOAD = "capture-me-if-you-can-7f3a"

SCRIPT = r"""
import json, os, socket, subprocess, sys, threading
from dataclasses import dataclass

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

from paglets.core.agent import Paglet, PagletState
from paglets.runtime.host import Host

@dataclass
class EchoState(PagletState):
    seen: str = ""

class Echo(Paglet[EchoState]):
    State = EchoState
    def handle_message(self, message):
        self.state.seen = message.get_arg("text")
        return message.get_arg("text")

ETH_P_ALL = 0x0003
captured = bytearray()
stop = threading.Event()
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
raw.bind(("lo", 0))
raw.settimeout(0.1)

def capture():
    while not stop.is_set():
        try:
            captured.extend(raw.recv(65535))
        except socket.timeout:
            continue

reader = threading.Thread(target=capture)
reader.start()
secure = sys.argv[1] == "secure"
options = {"api_key": "capture-secret"} if secure else {"insecure": True}
payload = sys.argv[2]
with Host(name="alpha", port=0, **options) as alpha, Host(name="beta", port=0, **options) as beta:
    proxy = alpha.create_remote(beta.address, Echo)
    replies = [proxy.send("echo", args={"text": payload}) for _ in range(5)]
# each payload went out in a request before its reply came back: it is captured
stop.set()
reader.join(5)
print(json.dumps({
    "replies_ok": all(reply == payload for reply in replies),
    "captured_bytes": len(captured),
    "payload_seen": payload.encode() in captured,
}))
"""


def _run(tmp_path: Path, mode: str) -> dict[str, object]:
    script = tmp_path / "capture.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        ["unshare", "-rn", sys.executable, str(script), mode, PAYLOAD],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot capture in a private namespace here: {result.stderr[-400:]}")
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare is not installed")
def test_secured_traffic_shows_no_plain_text_where_insecure_traffic_does(
    tmp_path: Path,
) -> None:
    plain = _run(tmp_path, "insecure")
    assert plain["replies_ok"] and plain["captured_bytes"]
    assert plain["payload_seen"], "the control run must see the payload, or the capture is blind"
    secured = _run(tmp_path, "secure")
    assert secured["replies_ok"] and secured["captured_bytes"]
    assert not secured["payload_seen"]
