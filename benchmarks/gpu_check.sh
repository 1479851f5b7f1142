#!/usr/bin/env bash
# GPU acceptance check (issue 15): run/pretrain a few steps, bf16 vs fp32, 2-GPU DDP, clips/s, MFU and
# peak memory of ViT-B fine-tuning and MAE pre-training. See benchmarks/gpu_check.py for the steps.
# Usage: benchmarks/gpu_check.sh [--json results.json] [--cpu] [--cpu-ddp] [--work DIR]
# PYTHON selects the interpreter (default: python3 on PATH, e.g. the venv echobench is installed in).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/gpu_check.py" "$@"
