"""The LVIS evaluator's files, written in a second process while the metrics are computed.

At LVIS val size (~6M detections) the results json takes about as long to write as the metrics
take to compute, and the per-category figure needs matplotlib (about a second to import). On
Linux, :class:`EvaluationOutputs` forks a writer as soon as the detections are final: it writes
the results file and imports matplotlib while the parent computes the metrics, then draws the
reports from the per-category APs the parent sends it. Elsewhere (no fork, or a daemonic process,
which may not have children) the same work runs inline at the same points. Every file is written
atomically (:func:`eql.utils.io.atomic_write`), so an interrupted writer leaves no partial file.
"""

import logging
import multiprocessing
import os
import sys
from typing import Dict, List, Optional

from .detections import Detections
from .reports import write_category_reports
from .results_file import write_lvis_results

logger = logging.getLogger(__name__)

RESULTS_FILE = "lvis_instances_results.json"


def _can_fork() -> bool:
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def _writer(conn, results_path: str, dets: Detections, reports_dir: Optional[str]) -> None:
    """The forked writer: results file, then (if asked) the reports from the parent's message."""
    try:
        write_lvis_results(results_path, dets)
        if reports_dir is not None:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401  (imported while the parent evaluates)

            message = conn.recv()
            if message is not None:
                write_category_reports(message[0], message[1], reports_dir)
        conn.send(("ok", ""))
    except BaseException as e:  # reported to the parent, which raises it
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


class EvaluationOutputs:
    """``outputs = EvaluationOutputs(output_dir, dets, reports=True)`` starts writing
    ``<output_dir>/lvis_instances_results.json``; ``outputs.write_reports(categories, per_task)``
    hands over the per-category APs (``task -> LVISMetrics``); ``outputs.finish()`` returns when
    every file is written and raises if the writer failed. Use it as a context manager so that an
    error in between still lets the writer finish the results file and exit."""

    def __init__(
        self, output_dir: str, dets: Detections, reports: bool = True, background: bool = True
    ):
        os.makedirs(output_dir, exist_ok=True)
        self.output_dir = output_dir
        self.results_path = os.path.join(output_dir, RESULTS_FILE)
        self._num_results = len(dets)
        self._reports = reports
        self._reports_sent = False
        self._process = None
        if background and _can_fork():
            context = multiprocessing.get_context("fork")
            self._conn, child_conn = context.Pipe()
            self._process = context.Process(
                target=_writer,
                args=(child_conn, self.results_path, dets, output_dir if reports else None),
                daemon=True,
                name="eql-evaluation-writer",
            )
            self._process.start()
            child_conn.close()
        else:
            write_lvis_results(self.results_path, dets)

    @property
    def background(self) -> bool:
        return self._process is not None

    def write_reports(self, categories: List[Dict], per_task: Dict) -> None:
        """Per-category CSV and PNG (:func:`write_category_reports`) from the metrics."""
        if not self._reports or self._reports_sent:
            return
        self._reports_sent = True
        if self._process is None:
            write_category_reports(categories, per_task, self.output_dir)
        else:
            self._conn.send((categories, per_task))

    def finish(self) -> None:
        """Waits for the writer; raises RuntimeError naming the output folder if it failed."""
        if self._process is None:
            self._log_written()
            return
        process, self._process = self._process, None
        try:
            if self._reports and not self._reports_sent:
                self._conn.send(None)
            status, message = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            process.join()
            status, message = "error", f"the writer process exited with code {process.exitcode}"
        finally:
            self._conn.close()
        process.join()
        if status != "ok":
            raise RuntimeError(
                f"writing the evaluation files in {self.output_dir} failed: {message}"
            )
        self._log_written()

    def _log_written(self) -> None:
        logger.info(f"Wrote {self._num_results} LVIS results to {self.results_path}")

    def __enter__(self) -> "EvaluationOutputs":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._process is not None:
            if exc_type is None:
                self.finish()
            else:  # the caller's error wins; the writer still completes the results file
                try:
                    self.finish()
                except RuntimeError as e:
                    logger.error(str(e))
