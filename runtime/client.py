"""The Temporal client and the payment provider an application connects to: what every command needs,
without the worker's activities and workflows (and their imports), so a command starts quickly."""

import asyncio
import os
import subprocess
from collections.abc import Sequence
from functools import cache

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError

from payments.fake import FakeGateway
from payments.gateway import PaymentGateway
from runtime.logs import core_logging
from runtime.settings import Settings
from store.pool import Pool


def client_environment(settings: Settings) -> dict[str, str]:
    """The SDK's client environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
    TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_PROFILE, ...), with what these settings know: var/dev.env's
    address, and the older TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY names."""
    known = {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TEMPORAL_API_KEY": settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        "TEMPORAL_TLS": "true" if settings.temporal_tls else None,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": settings.temporal_tls_cert,
        "TEMPORAL_TLS_CLIENT_KEY_PATH": settings.temporal_tls_key,
    }
    env = {k: v for k, v in known.items() if v}
    env.update({k: v for k, v in os.environ.items() if k.startswith("TEMPORAL_") and k not in env})
    return env


async def connect(
    settings: Settings, runtime: Runtime | None = None, lazy: bool = False, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """A client for the configured cluster: local, self-hosted with mTLS, or Temporal Cloud with an API key,
    configured the SDK's way (a TOML profile works too). `runtime`: the SDK's default (its core's warnings on
    stderr) unless given; a long-running process gives `logged_runtime()`."""
    config = ClientConfigProfile.load(override_env_vars=client_environment(settings)).to_client_connect_config()
    return await Client.connect(
        **config,
        data_converter=pydantic_data_converter,
        runtime=runtime,
        lazy=lazy,
        interceptors=interceptors,
    )


@cache
def logged_runtime() -> Runtime:
    """The SDK's runtime (one a process, as its default would be), its core's warnings in this process's log.
    Only for the worker and the dev stack, which stop by their own shutdown: a command that exits while the core
    still forwards a line (Temporal gone mid-call) hung for ever at exit, the core's forwarding thread waiting
    for a finalizing interpreter."""
    return Runtime(telemetry=TelemetryConfig(logging=core_logging()))


def metrics_runtime(settings: Settings) -> Runtime | None:
    """Prometheus metrics from the SDK on METRICS_PORT (e.g. worker task latency, activity failures)."""
    if not settings.metrics_port:
        return None
    metrics = PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port}")
    return Runtime(telemetry=TelemetryConfig(logging=core_logging(), metrics=metrics))


async def wait_for_temporal(
    settings: Settings, server: subprocess.Popen, timeout: float = 60, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """Connect once the freshly started server answers; fail early if it exited."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with status {server.returncode}; see var/temporal.log")
        try:
            client = await connect(settings, logged_runtime(), interceptors=interceptors)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return client
        except (RuntimeError, RPCError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.25)


def payment_gateway(settings: Settings, pool: Pool) -> PaymentGateway:
    """The provider RENEWALS_PAYMENTS names: `fake`, the local one with test cards, or `stripe`."""
    if settings.renewals_payments == "stripe":
        from payments.stripe import StripeGateway  # its SDK only where it is used

        return StripeGateway(
            pool,
            settings.require_stripe_key(),
            buyer_app_url=settings.buyer_app_url,
            api_base=settings.stripe_api_base or None,
        )
    return FakeGateway(pool)
