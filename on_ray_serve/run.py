"""Start the application on a Ray cluster (a local one, or ``ray.address``) and serve until stopped."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

from lookalike.settings import Settings
from on_ray.cluster import connect


def portable(settings: Settings) -> Settings:
    """Replicas run in other processes (other machines): relative paths would mean their folders."""
    update = {"data_dir": settings.data_dir.resolve()}
    if settings.export_dir is not None:
        update["export_dir"] = settings.export_dir.resolve()
    return settings.model_copy(update=update)


def start(settings: Settings, host: str, port: int) -> str:
    """Deploy (or update) the application and return its URL once every replica is up."""
    import ray
    from ray import serve

    from on_ray_serve.deployments import APP_NAME, application

    connect(settings.ray)
    serve.start(http_options={"host": host, "port": port})
    gpus = float(ray.cluster_resources().get("GPU", 0))
    serve.run(application(portable(settings), gpus), name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}"


def stop(settings: Settings) -> None:
    """Remove the application; a local cluster (started here) goes with Serve and Ray."""
    import ray
    from ray import serve

    from on_ray_serve.deployments import APP_NAME

    if not ray.is_initialized():
        return
    if settings.ray.address is None:
        serve.shutdown()
    else:
        serve.delete(APP_NAME)
    ray.shutdown()


def serve_until_stopped(settings: Settings, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """``lookalike serve --runner ray``: deploy, then wait for Ctrl-C or SIGTERM, then remove it."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        url = start(settings, host, port)
        # After ray.init, whose own SIGTERM handler ends the process without cleaning up.
        signal.signal(signal.SIGTERM, interrupt)
        on_ready(url)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop(settings)
