"""A loopback HTTP server served from a daemon thread: for stand-ins that synchronous clients
call (msal and botframework-connector use `requests`), which would block an asyncio loop."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer


@dataclass
class ServedInThread:
    server: ThreadingHTTPServer
    thread: threading.Thread

    @classmethod
    def start(cls, server: ThreadingHTTPServer, name: str) -> ServedInThread:
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        return cls(server, thread)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
