"""One web worker of ``belvedere serve --workers N`` (PostgreSQL): the app, built in the worker.

uvicorn starts each worker as a new process and builds its app by calling :func:`app` (an
import string and ``factory=True``: an app cannot be handed to another process). The worker
learns everything from the settings its parent left in the environment — above all the store's
URL — and opens its own pool of connections to the shared store.

A worker runs no MQTT bridge, retention job or log signing: the parent does, once for the
deployment. Its live picture follows the store (:class:`~belvedere.live.follow.StoreFollower`),
so that a dashboard sees the batches the parent's bridge and the other workers commit.
"""

from __future__ import annotations

import atexit

from fastapi import FastAPI

from belvedere.api.main import create_app
from belvedere.live.follow import StoreFollower
from belvedere.live.service import LiveService
from belvedere.settings import setting
from belvedere.store.factory import open_store


def app() -> FastAPI:
    """The application of one worker over the deployment's store."""
    db = open_store(setting("store"))
    live = LiveService.from_settings(db)
    live.start()  # the clock that ages the windows; no bridge, no poller
    follower = StoreFollower(db, live.hub).start()

    def stop() -> None:
        follower.stop()
        live.stop()
        db.close()

    atexit.register(stop)
    return create_app(db, reports_dir=db.deployment.reports_dir, live_service=live)
