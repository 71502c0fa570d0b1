"""What the benchmarks and the long-tail study use: the long-tail sweep (sizes, loss variants, runs,
resume) and its run summaries, the LVIS-sized json generator, generated detections, and running a
measurement in a fresh process."""
