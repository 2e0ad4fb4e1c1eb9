"""One thin module per case study (and the benchmark), run with `python -m`.

Each reads as the course's recipe, in the same order: config checks, data, model and
state, fit, evaluate, report; then its verbs (predict, verify, identify, cluster,
detect, synthesize). The work itself is in `jaxdl` and its task packages.
"""
