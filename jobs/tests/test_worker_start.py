"""`manage.py worker` started while the database is not up yet (a host's reboot starts every
container at once; Kubernetes starts pods in no order): it waits for it, as it does when
the database goes away later."""

import contextlib
import json
import signal
import socket
import socketserver
import threading

import pytest
from django_tasks_db.models import DBTaskResult

from common.tests.servers.postgres import database_url, the_test_database
from common.tests.servers.processes import free_port
from jobs import tasks
from jobs.tests.test_worker_process import start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class Forwarder(socketserver.ThreadingTCPServer):
    """The test database on another loopback port, from when it is started."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        target = the_test_database()
        self.target = (target["host"], target["port"])
        super().__init__(("127.0.0.1", port), Pipe)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Pipe(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with socket.create_connection(self.server.target) as upstream:
            back = threading.Thread(target=_copy, args=(upstream, self.request), daemon=True)
            back.start()
            _copy(self.request, upstream)
            back.join()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


def test_a_worker_started_before_the_database_answers_waits_for_it(tmp_path):
    """It died at once with a traceback of some eighty lines of plain text in the JSON log,
    and did nothing until something started it again: Docker's restart policy a growing
    pause later, Kubernetes' back-off up to five minutes, nothing at all where it ran
    without one."""
    port = free_port()
    log = tmp_path / "worker.log"
    worker = start_worker(
        log=log,
        LOG_FORMAT="json",
        DATABASE_URL=database_url(**{**the_test_database(), "port": port}),
    )
    forwarder = None
    try:
        wait_for(lambda: worker.poll() is not None or "Connection refused" in log.read_text())
        forwarder = Forwarder(port)
        wait_for(
            lambda: (
                worker.poll() is not None
                or DBTaskResult.objects.filter(
                    task_path=tasks.purge_records.module_path, status="SUCCESSFUL"
                ).exists()
            )
        )
        alive = worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        worker.wait(40)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        if forwarder:
            forwarder.shutdown()
            forwarder.server_close()

    lines = log.read_text().splitlines()
    assert alive
    assert all(line.startswith("{") for line in lines)
    refused = [json.loads(line) for line in lines if "Connection refused" in line]
    assert [(line["level"], "exc_info" in line) for line in refused[:1]] == [("WARNING", False)]
