"""Stopping the server processes tests start."""

from __future__ import annotations

import signal
import subprocess


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Sends `sig`, waits up to `timeout`, then kills; nothing when it already exited."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
