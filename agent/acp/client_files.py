"""The editor's buffers over ACP: `fs/read_text_file` and `fs/write_text_file`, used by
the file tools (tools/editor_files.py) when the client advertised them.

The tools run in worker threads, and the connection lives on the event loop, so each
call is handed to the loop and waited for here, with a time limit: an editor that does
not answer fails the one call, not the session.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from acp import RequestError

from tools.editor_files import EditorFileError

CALL_TIMEOUT_S = 30.0


class ClientFiles:
    def __init__(self, conn: Any, session_id: str, loop: asyncio.AbstractEventLoop, *,
                 can_read: bool, can_write: bool) -> None:
        self._conn, self._session_id, self._loop = conn, session_id, loop
        self.can_read, self.can_write = can_read, can_write

    def read(self, path: Path) -> str | None:
        if not self.can_read:
            return None
        response = self._call(self._conn.read_text_file(session_id=self._session_id,
                                                        path=str(path)), "read", path)
        return response.content

    def write(self, path: Path, text: str) -> bool:
        if not self.can_write:
            return False
        self._call(self._conn.write_text_file(session_id=self._session_id, path=str(path),
                                              content=text), "write", path)
        return True

    def _call(self, request: Any, verb: str, path: Path) -> Any:
        if _on_loop_thread(self._loop):  # waiting here would block the loop it needs
            request.close()
            raise EditorFileError(f"cannot {verb} {path} through the editor from its event loop")
        future = asyncio.run_coroutine_threadsafe(request, self._loop)
        try:
            return future.result(CALL_TIMEOUT_S)
        except FutureTimeout as exc:
            future.cancel()
            raise EditorFileError(
                f"the editor did not answer fs/{verb}_text_file within {CALL_TIMEOUT_S:.0f} s"
            ) from exc
        except RequestError as exc:
            raise EditorFileError(f"{exc} ({exc.data})" if exc.data else str(exc)) from exc
        except ConnectionError as exc:
            raise EditorFileError(f"the editor is gone: {exc}") from exc


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread: a worker
        return False
