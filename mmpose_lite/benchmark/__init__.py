"""Benchmarks (the CLI wrappers live in tools/).

Side-by-side benchmark: :mod:`.entries` (which models, from which config, AP
source) → :mod:`.measure` / :mod:`.latency` / :mod:`.export` (params and
FLOPs, latency per runtime, throughput, memory, train step) →
:mod:`.report` (Markdown, CSV, plot); :mod:`.cli` runs them. Also
:mod:`.profile` (time per operator type), :mod:`.slide` (slide attention) and
:mod:`.timing` (shared timing and table helpers).
"""
