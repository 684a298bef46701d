"""Where batches of work run: this process, local worker processes or a Ray cluster (`backends`),
behind one `Executor` interface (`executors`); used by ingest, mining and the benchmark runner."""
