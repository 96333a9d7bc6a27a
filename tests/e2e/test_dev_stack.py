"""`renewals dev` as a user runs it: up, used from a second terminal, Ctrl-C, nothing left behind."""

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psutil
import pytest
from temporalio import workflow

from tests.helpers import DevProcess, alive, free_port, renewals
from workers.demo_data import ACME, demo_data


@workflow.defn(name="QuoteWorkflow", sandboxed=False)
class QuoteWorkflowOfAnOlderBuild:
    """A quote as some earlier build ran it: its history is not one today's QuoteWorkflow replays."""

    @workflow.run
    async def run(self, input: dict) -> None:
        await workflow.sleep(timedelta(days=30))


def test_dev_stack_serves_commands_stops_clean_and_keeps_data(dev: DevProcess, tmp_path: Path) -> None:
    dev.start_with_demo_data()
    env_file = (dev.var / "dev.env").read_text()
    assert "TEMPORAL_ADDRESS=127.0.0.1:" in env_file and "DATABASE_URL=" in env_file

    web = dev.args[dev.args.index("--web-port") + 1]
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=5) as answer:
        assert answer.status == 200
    groups = json.loads(renewals("groups", "--csn", ACME, "--json", env=dev.env).stdout)
    assert [g["key"] for g in groups] == [f"{ACME}/EUR/direct", f"{ACME}/EUR/partner/5200000001"]

    second = renewals("dev", "--no-seed", *dev.args, env=dev.env)
    assert second.returncode == 1 and "already running" in second.stderr

    stack = dev.processes()
    assert any("temporal" in " ".join(p.cmdline()) for p in stack)
    assert any("postgres" in p.name() for p in stack)
    assert dev.ctrl_c() == 0
    assert alive(stack) == [] and alive(dev.processes()) == []
    assert not (dev.var / "dev.env").exists()

    dev.start()
    rows = json.loads(renewals("subscriptions", "--csn", ACME, "--json", env=dev.env).stdout)
    assert len(rows) == len([s for s in demo_data(date.today()).subscriptions if s.csn == ACME])
    assert dev.ctrl_c() == 0
    assert dev.log.read_text().endswith("\nstopped\n")


def test_r22_make_runs_demo_quote_email_carries_its_pdf(dev: DevProcess) -> None:
    """`make run` on an empty var/ sends the demo quote: its emails in var/mail carry the quote PDF."""
    import email
    import io
    import time
    from email import policy

    from pypdf import PdfReader

    dev.start(seed=True)
    deadline = time.monotonic() + 60
    while len(found := sorted((dev.var / "mail").glob("Q-000001.quote.*.eml"))) < 2:
        assert time.monotonic() < deadline, f"no demo quote email in var/mail:\n{dev.log.read_text()}"
        time.sleep(0.2)
    for path in found:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        (attached,) = message.iter_attachments()
        assert (attached.get_content_type(), attached.get_filename()) == ("application/pdf", "Q-000001.pdf")
        text = PdfReader(io.BytesIO(attached.get_content())).pages[0].extract_text()
        assert "Quote Q-000001" in text and "Customer Acme BV" in text and "SUB-1001 AutoCAD" in text
    assert dev.ctrl_c() == 0


def test_dev_stack_port_in_use_is_named(dev: DevProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--temporal-port", str(port), *dev.args[2:]]
        result = renewals("dev", "--no-seed", *args, env=dev.env)
    assert result.returncode == 1
    assert f"port {port} (Temporal gRPC) is in use" in result.stderr


async def test_dev_stack_refuses_a_var_whose_open_workflows_an_older_build_began(dev: DevProcess) -> None:
    """Before 1.0 workflows change without patches: `renewals dev` on a var/ whose open quotes this build
    cannot replay refuses to start, naming them and `make clean`, instead of failing their tasks."""
    import asyncio
    import uuid

    from temporalio.client import Client
    from temporalio.worker import Worker

    await asyncio.to_thread(dev.start)
    assert (dev.var / "workflows.build").exists()  # the build that ran on this var/
    client = await Client.connect(dev.dev_env()["TEMPORAL_ADDRESS"])
    queue = f"older-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[QuoteWorkflowOfAnOlderBuild]):
        handle = await client.start_workflow("QuoteWorkflow", {}, id="quote-Q-999990", task_queue=queue)
        for _ in range(100):
            events = [e async for e in handle.fetch_history_events()]
            if any(e.HasField("timer_started_event_attributes") for e in events):
                break
            await asyncio.sleep(0.1)
    assert await asyncio.to_thread(dev.ctrl_c) == 0
    (dev.var / "workflows.build").write_text("a-build-before-this-one\n")

    refused = await asyncio.to_thread(renewals, "dev", "--no-seed", *dev.args, env=dev.env, timeout=120)
    assert refused.returncode == 1
    assert "1 open workflow(s) begun by an older build" in refused.stderr
    assert "quote-Q-999990" in refused.stderr and "make clean" in refused.stderr
    assert alive(dev.processes()) == []


def listens(proc: psutil.Process, port: int) -> bool:
    connections = getattr(proc, "net_connections", proc.connections)(kind="tcp")
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def eventually(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


def test_dev_stack_runs_the_smtp_sink_and_workers_in_processes_of_their_own(dev: DevProcess) -> None:
    """The SMTP sink's port is served by a child of `renewals dev`, not by it; `--workers 1` starts one
    `renewals worker` that polls; a worker that dies is said in the dev log; Ctrl-C stops them all."""
    dev.args += ["--workers", "1"]
    dev.start()
    root = psutil.Process(dev.process.pid)
    smtp = dev.port("--smtp-port")
    (sink,) = [p for p in root.children() if listens(p, smtp)]
    assert "workers.smtp_sink" in sink.cmdline() and not listens(root, smtp)
    (worker,) = [p for p in root.children() if p.cmdline()[-1:] == ["worker"]]
    log = dev.var / "worker-1.log"
    eventually(lambda: "polling task_queue=" in log.read_text(), "the worker process polling")
    assert "workers           2 processes: this one and 1 renewals worker" in dev.log.read_text()

    worker.kill()
    eventually(
        lambda: (
            f"worker process 1 (pid {worker.pid}) was killed by SIGKILL while the stack runs" in dev.log.read_text()
        ),
        "the dead worker said in the dev log",
    )
    assert dev.ctrl_c() == 0
    assert alive([sink, *dev.processes()]) == []


def test_smtp_sink_process_ends_with_its_parent_and_frees_its_port(tmp_path: Path) -> None:
    """A `renewals dev` killed outright (SIGKILL, OOM) takes its SMTP sink along: the next one finds the port free."""
    port = free_port()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from workers.devstack import start_smtp_process; "
            "print(start_smtp_process(__import__('pathlib').Path(sys.argv[1]), '127.0.0.1', int(sys.argv[2]))"
            ".process.pid, flush=True); time.sleep(60)",
            str(tmp_path),
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    sink = psutil.Process(int(parent.stdout.readline()))
    eventually(lambda: listens(sink, port), "the sink listening")
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    eventually(lambda: alive([sink]) == [], "the sink gone with its parent", timeout=10)
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


async def test_smtp_sink_that_cannot_start_stops_the_stack_naming_its_port(tmp_path: Path) -> None:
    """Something took the SMTP port after the stack checked it: the sink dies, and the error says which port."""
    from workers.devstack import DevStackError, start_smtp_process, until_accepting_mail

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = start_smtp_process(tmp_path, "127.0.0.1", port)
        with pytest.raises(DevStackError) as refused:
            await until_accepting_mail(sink, "127.0.0.1", port)
    assert f"the SMTP sink on port {port} stopped as it started (exited with status 1)" in str(refused.value)
    assert "address already in use" in (tmp_path / "smtp.log").read_text()
