#!/usr/bin/python3
"""`berth doctor`: CPU features read with cpuid agree with the kernel's
/proc/cpuinfo, the model name is the kernel's (with the CPUID brand beside it
where they differ), and the driver / CUDA verdicts follow NVIDIA's table, checked
on fake driver version files. Run: doctor_test.py --berth build/berth
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import berth_cli_test  # noqa: E402

BERTH = None

# Flags every kernel berth runs on knows: cpuid and /proc/cpuinfo must agree.
CORE_FLAGS = ["sse4_1", "sse4_2", "popcnt", "avx", "f16c", "fma", "bmi1", "bmi2", "avx2", "avx512f", "avx512dq",
              "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"]
# Newer flags an older kernel may not list: only "the kernel has it => so do we".
NEWER_FLAGS = ["avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16"]

PROPRIETARY = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n" \
              "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
OPEN_MODULE = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  " \
              "(dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:15:33 UTC 2024\n"


def cpuinfo():
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                break  # the first processor is enough
            key, _, value = line.partition(":")
            info[key.strip()] = value.strip()
    return info


class DoctorTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-doctor-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "BERTH_MAX_CPU_ISA",
                                 "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}

    def doctor(self, *args, env=None):
        full_env = dict(self.env)
        full_env.update(env or {})
        return subprocess.run([BERTH, "doctor", *args], capture_output=True, text=True, timeout=60, env=full_env)

    def doctor_json(self, *args, env=None):
        r = self.doctor("--json", *args, env=env)
        return r.returncode, json.loads(r.stdout)

    def fake_driver(self, text, gpu_model=None):
        path = os.path.join(self.tmp, "version")
        with open(path, "w") as f:
            f.write(text)
        if gpu_model:
            gpu_dir = os.path.join(self.tmp, "gpus", "0000:3b:00.0")
            os.makedirs(gpu_dir, exist_ok=True)
            with open(os.path.join(gpu_dir, "information"), "w") as f:
                f.write("Model: \t\t %s\nIRQ:   \t\t 42\n" % gpu_model)
        return path

    def test_cpu_features_match_proc_cpuinfo(self):
        code, report = self.doctor_json()
        self.assertEqual(code, 0)
        info = cpuinfo()
        flags = set(info.get("flags", "").split())
        ours = set(report["cpu"]["features"])
        for flag in CORE_FLAGS:
            self.assertEqual(flag in ours, flag in flags, "cpuid and /proc/cpuinfo disagree on " + flag)
        for flag in NEWER_FLAGS:
            if flag in flags:
                self.assertIn(flag, ours)
        # The model name is the kernel's (what lscpu shows). The CPUID brand
        # string is reported beside it: under a hypervisor the two may differ,
        # and the text report then shows both.
        kernel_name = " ".join(info.get("model name", "").split())
        if kernel_name:
            self.assertEqual(" ".join(report["cpu"]["model_name"].split()), kernel_name)
        self.assertIn("cpuid_brand", report["cpu"])
        brand = report["cpu"]["cpuid_brand"]
        if "vendor_id" in info:  # x86: cpuid has a brand string
            self.assertTrue(brand, "x86 processor without a CPUID brand string")
        text = self.doctor().stdout
        self.assertIn("  model       " + report["cpu"]["model_name"], text)
        self.assertEqual("CPUID brand " + brand in text, bool(brand) and brand != report["cpu"]["model_name"], text)
        self.assertEqual(str(report["cpu"]["family"]), info.get("cpu family"))
        self.assertEqual(str(report["cpu"]["model"]), info.get("model"))
        self.assertEqual(report["cpu"]["logical_cpus"], len(os.sched_getaffinity(0)))
        self.assertTrue(report["cpu"]["onednn_isa"])
        if all(flag in flags for flag in ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c")):
            self.assertTrue(report["cpu"]["own_kernels"].startswith("x86-64-v3"))

    def test_isa_ceiling_lowers_both_dispatches(self):
        flags = set(cpuinfo().get("flags", "").split())
        code, report = self.doctor_json()
        self.assertEqual(report["cpu"]["isa_ceiling"], "all")
        if all(flag in flags for flag in ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c")):
            code, report = self.doctor_json(env={"BERTH_MAX_CPU_ISA": "avx2"})
            self.assertEqual((code, report["cpu"]["isa_ceiling"]), (0, "avx2"))
            self.assertEqual(report["cpu"]["onednn_isa"], "avx2")
            self.assertTrue(report["cpu"]["own_kernels"].startswith("x86-64-v3"))
            r = self.doctor(env={"BERTH_MAX_CPU_ISA": "avx2"})
            self.assertIn("BERTH_MAX_CPU_ISA=avx2 (lower paths forced)", r.stdout)
        code, report = self.doctor_json(env={"BERTH_MAX_CPU_ISA": "SSE41"})
        self.assertEqual((code, report["cpu"]["isa_ceiling"], report["cpu"]["onednn_isa"]), (0, "sse41", "sse41"))
        self.assertTrue(report["cpu"]["own_kernels"].startswith("baseline x86-64"))
        # oneDNN's own variable rules oneDNN; berth's loops still follow berth's.
        code, report = self.doctor_json(env={"BERTH_MAX_CPU_ISA": "sse41", "ONEDNN_MAX_CPU_ISA": "AVX2"})
        if "avx2" in flags:
            self.assertEqual(report["cpu"]["onednn_isa"], "avx2")
        r = self.doctor(env={"BERTH_MAX_CPU_ISA": "avx3"})
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("BERTH_MAX_CPU_ISA='avx3' is not one of sse41, avx2, avx512, all", r.stderr)

    def test_no_gpu_says_so_and_exits_0(self):
        missing = os.path.join(self.tmp, "absent")
        r = self.doctor("--driver-version-file", missing)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no NVIDIA GPU driver here: berth runs on the CPU", r.stdout)
        self.assertIn("none: this is a CPU build", r.stdout)
        code, report = self.doctor_json("--driver-version-file", missing)
        self.assertEqual((code, report["ok"], report["gpu"]["driver_version"], report["cuda_runtime"]),
                         (0, True, None, None))

    def test_no_driver_but_gpu_requested_is_pointed_out(self):
        code, report = self.doctor_json("--driver-version-file", os.path.join(self.tmp, "absent"),
                                        env={"NVIDIA_VISIBLE_DEVICES": "all"})
        self.assertEqual(code, 0)
        self.assertTrue(any("no driver is visible" in note for note in report["notes"]), report["notes"])

    def test_driver_version_and_newest_cuda(self):
        path = self.fake_driver(PROPRIETARY, gpu_model="NVIDIA H200")
        code, report = self.doctor_json("--driver-version-file", path)
        self.assertEqual(code, 0)
        self.assertEqual(report["gpu"]["driver_version"], "535.104.05")
        self.assertEqual(report["gpu"]["newest_cuda"], "12.2")
        self.assertEqual(report["gpu"]["devices"], ["0000:3b:00.0: NVIDIA H200"])
        path = self.fake_driver(OPEN_MODULE)
        code, report = self.doctor_json("--driver-version-file", path)
        self.assertEqual((report["gpu"]["driver_version"], report["gpu"]["newest_cuda"]), ("550.54.15", "12.4"))

    def test_cuda_not_newer_than_driver(self):
        path = self.fake_driver(PROPRIETARY)
        code, report = self.doctor_json("--driver-version-file", path, "--cuda-version", "12.2")
        self.assertEqual((code, report["ok"], report["minimum_driver"]), (0, True, "535.54.03"))
        code, report = self.doctor_json("--driver-version-file", path, "--cuda-version", "11.8")
        self.assertEqual(code, 0)
        r = self.doctor("--driver-version-file", path, "--cuda-version", "12.4")
        self.assertEqual(r.returncode, 1)
        self.assertIn("must not be newer than the driver's", r.stdout)
        self.assertIn(">= 550.54.14", r.stdout)
        code, report = self.doctor_json("--driver-version-file", path, "--cuda-version", "12.4")
        self.assertEqual((code, report["ok"], report["minimum_driver"]), (1, False, "550.54.14"))
        self.assertTrue(any("minor version compatibility" in note for note in report["notes"]))

    def test_cuda_without_driver_or_devices_fails(self):
        code, report = self.doctor_json("--driver-version-file", os.path.join(self.tmp, "absent"),
                                        "--cuda-version", "12.4")
        self.assertEqual((code, report["ok"]), (1, False))
        path = self.fake_driver(OPEN_MODULE)
        code, report = self.doctor_json("--driver-version-file", path, "--cuda-version", "12.4",
                                        env={"CUDA_VISIBLE_DEVICES": "-1"})
        self.assertEqual(code, 1)
        self.assertTrue(any("no GPU is visible" in p for p in report["problems"]), report["problems"])
        code, report = self.doctor_json("--driver-version-file", path, "--cuda-version", "99.1")
        self.assertEqual(code, 1)


if __name__ == "__main__":
    berth_cli_test.main(sys.modules[__name__])
