"""One model, several Python threads: the GIL is released while libda3 works, and concurrent
calls give the same results as serial ones."""

from __future__ import annotations

import threading
import time

import numpy as np

import da3cpp
from conftest import IMAGES, TINY

PATHS = [str(IMAGES / "a_land_640x420.jpg"), str(IMAGES / "k_texture_320x240.jpg")]


def test_two_threads_on_one_model_give_identical_results(tiny_model):
    serial = tiny_model.inference(PATHS, process_res=280)
    results, errors = [None, None], []
    barrier = threading.Barrier(2)

    def work(i):
        try:
            barrier.wait()
            for _ in range(3):
                p = tiny_model.inference(PATHS, process_res=280)
                if results[i] is not None:
                    assert np.array_equal(results[i].depth, p.depth)
                results[i] = p
        except Exception as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        for k in ("depth", "conf", "extrinsics", "intrinsics", "processed_images"):
            assert getattr(r, k).tobytes() == getattr(serial, k).tobytes(), k


def test_the_gil_is_released_during_inference():
    """While one thread is inside inference(), Python code keeps running in another: the longest
    pause the main thread sees is far below the time of one call. (With the GIL held, the main
    thread would stall for the whole call.)"""
    model = da3cpp.DepthAnything3.from_pretrained(str(TINY), threads=1)
    x = np.random.default_rng(0).standard_normal((1, 4, 3, 280, 280)).astype(np.float32)
    t0 = time.perf_counter()
    model.forward(x)
    one_call = time.perf_counter() - t0

    done = threading.Event()
    worker = threading.Thread(target=lambda: (model.forward(x), model.forward(x), done.set()))
    ticks = []
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    assert len(ticks) > 10
    longest_pause = max(np.diff(ticks))
    print(f"one forward {one_call * 1e3:.0f} ms; longest main-thread pause {longest_pause * 1e3:.1f} ms")
    assert longest_pause < 0.5 * one_call, (
        f"the main thread stalled {longest_pause * 1e3:.0f} ms while a forward of {one_call * 1e3:.0f} ms ran")
