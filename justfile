# Tasks for sweep. `just` is optional: each recipe is a plain cargo command you can run yourself.

set shell := ["bash", "-euo", "pipefail", "-c"]

# plan, run (resumable) and report a sweep
sweep manifest="experiments/paper.toml":
    cargo run --release --locked -- plan {{manifest}}
    cargo run --release --locked -- run {{manifest}}

# the test suite (the README's test command)
test:
    cargo test --locked

# everything CI runs
ci:
    bash .ci/run

# regenerate REPRODUCTION.md (and each paper sweep's report) from the committed results
reproduction:
    tools/reproduction.sh
