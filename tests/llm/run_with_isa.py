#!/usr/bin/python3
"""Runs a command with BERTH_LLM_ISA forced: `run_with_isa.py ISA CMD...`.
Exits 77 (skipped) when this CPU cannot run ISA, which berth's own ISA check
decides (tests/llm/kernels_test.cc covers that check itself)."""
import os
import subprocess
import sys

KERNEL_ISA_FLAGS = {
    "scalar": [],
    "avx2": ["avx2", "fma", "f16c"],
    "avx512": ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"],
    "avx512vnni": ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"],
    "avxvnni": ["avx2", "fma", "f16c", "avx_vnni"],
}


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def main():
    isa, command = sys.argv[1], sys.argv[2:]
    missing = [flag for flag in KERNEL_ISA_FLAGS[isa] if flag not in cpu_flags()]
    if missing:
        print(f"SKIP: this CPU lacks {', '.join(missing)} for BERTH_LLM_ISA={isa}")
        return 77
    return subprocess.run(command, env=dict(os.environ, BERTH_LLM_ISA=isa)).returncode


if __name__ == "__main__":
    sys.exit(main())
