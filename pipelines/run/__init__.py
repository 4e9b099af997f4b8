"""The run layer: the steps of a night and their one name each (steps), their typed
parameters (params), launching a step in this process or through spark-submit (launch),
a submitted step's entry point (job), the Prefect flows that wire the steps (flows), the
run manifest (manifest), the code packages for a cluster (package), logging (logs) and
the benchmark (bench). Nothing below this layer imports it."""
