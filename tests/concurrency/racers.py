"""Run the same service from many threads or processes at once against the test database."""

import multiprocessing
import os
import threading
from collections.abc import Callable
from urllib.parse import quote

from django.db import connection, connections


def test_database_url() -> str:
    """The URL of the database the tests run on, for child processes to open."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = quote(settings["USER"] or "")
    password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{user}{password}@{settings['HOST']}{port}/{settings['NAME']}"


def race_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Start `count` threads that call work(i) at the same instant; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # the race's losers: collected, asserted by the test
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _child(database_url: str, target: str, args: tuple, barrier, queue) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creneau.settings")
    import django

    django.setup()
    import importlib

    module_name, function_name = target.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    barrier.wait()
    try:
        queue.put(("ok", function(*args)))
    except Exception as error:
        queue.put(("error", f"{type(error).__name__}: {error}"))


def race_processes(count: int, target: str, args_of: Callable[[int], tuple]) -> list[tuple]:
    """Start `count` fresh processes (spawned: no shared state) that call target(*args)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    queue = context.Queue()
    url = test_database_url()
    processes = [
        context.Process(target=_child, args=(url, target, args_of(i), barrier, queue))
        for i in range(count)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return results
