# Recipes for the usam workspace. The README's commands do not need `just`.

# List the recipes.
default:
    @just --list

# The main job: MNIST MLP on the bundled digits, five optimizers, three seeds each.
demo *ARGS:
    cargo run --release -p experiments -- demo {{ARGS}}

# Any usam subcommand, e.g. `just run train --help`.
run *ARGS:
    cargo run --release -p experiments -- {{ARGS}}

# The whole test suite (installs lavapipe for the wgpu tests first).
test:
    ./scripts/setup.sh
    cargo test --workspace

# Benchmark figures: optimizer step times (MLP, ResNet18), memory, Hessian costs, data-parallel scaling, data loading.
bench:
    cargo run --release -p experiments -- bench steps --model mlp --batch 128 --steps 100 --warmup 10
    cargo run --release -p experiments -- bench steps --model resnet18 --batch 32 --steps 5 --warmup 1
    cargo run --release -p experiments -- bench memory --model resnet18 --batch 16 --steps 2
    cargo run --release -p experiments -- bench hessian --model mlp --batch 128 --steps 5 --warmup 1 --probes 128
    cargo run --release -p experiments -- bench hessian --model resnet18 --batch 8 --steps 3 --warmup 1
    cargo run --release -p experiments -- bench parallel --model mlp --devices 0,1 --batch 128 --steps 50 --warmup 5
    cargo bench -p datasets --bench loader
    cargo run --release -p sam-core --example noise_throughput

# The learning-rate study with and without the stability guard (RESULTS.md).
lr-study:
    cargo run --release -p experiments -- sweep --config configs/lr-study.toml --out runs/lr-study
    cargo run --release -p experiments -- sweep --config configs/lr-study.toml --out runs/lr-study-off --set optimizer.guard.max_ratio=off

# Det-SAM at lr 0.1 with and without the guard (RESULTS.md, "Det under the guard").
det-guard-study:
    cargo run --release -p experiments -- sweep --config configs/det-guard-study.toml --out runs/det-guard
    cargo run --release -p experiments -- sweep --config configs/det-guard-study.toml --out runs/det-guard-off --set optimizer.guard.max_ratio=off

# The schedule study: Frob-SAM perturbing one step in k, at lr 0.05 and 0.01
# and with the guard (BENCHMARKS.md, "Cheaper steps"); each sweep ends with
# its report.html.
schedule-study:
    cargo run --release -p experiments -- sweep --config configs/schedule-study.toml --out runs/schedule-study
    cargo run --release -p experiments -- sweep --config configs/schedule-study.toml --out runs/schedule-study-lr0.01 --set base.lr=0.01
    cargo run --release -p experiments -- sweep --config configs/schedule-study.toml --out runs/schedule-study-guard --set optimizer.guard.max_ratio=0.5

# Label noise and limited data on the bundled digits: 8 regimes x 7 methods
# x 5 seeds (280 CPU runs; resumable), then its table.
noise-study *ARGS:
    cargo run --release -p experiments -- sweep --config configs/noise-study.toml --out runs/noise-study {{ARGS}}
    cargo run --release -p experiments -- table --dir runs/noise-study --markdown runs/noise-study/table.md

# sam-burn as a dependency: the crates it adds to a fresh Burn project,
# docs without warnings, the library crates packaged, the downstream project.
library:
    ./scripts/crate-count.sh
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p sam-core -p sam-burn --features sam-burn/parallel,sam-burn/learner
    cargo package -p sam-core -p sam-burn --allow-dirty
    cd examples/burn-project && cargo run --release -- --epochs 1

# Format everything.
fmt:
    cargo fmt --all

# Formatting check and clippy, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --workspace --all-targets --features experiments/cuda -- -D warnings

# Alias of lint.
clippy: lint

# What CI runs.
ci:
    ./.ci/run

# Check a backend against the f64 reference and the CPU (cpu, ndarray, wgpu, cuda).
selftest BACKEND="cpu":
    cargo run --release -p experiments --features cuda -- selftest --backend {{BACKEND}}

# Build the GPU bundle here and print how to run it on an NVIDIA machine.
gpu:
    ./scripts/gpu-bundle.sh
