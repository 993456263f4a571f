"""`make bench`: throughput, latency, soak, resources and the machine's own ceiling,
measured from outside the streaming job (Delta logs, Kafka timestamps, psutil)."""
