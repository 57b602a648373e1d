#!/usr/bin/python3
"""scripts/check-source.py: the tree passes, and each kind of violation is
caught when planted in a copy of it (an include going the wrong way between
floors, a file or function too long).

  check_source_test.py --root REPO
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = None


def check(root):
    script = os.path.join(ROOT, "scripts", "check-source.py")
    return subprocess.run(["/usr/bin/python3", script, "--root", root], capture_output=True, text=True, timeout=120)


class CheckSourceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-check-source-")
        shutil.copytree(os.path.join(ROOT, "src"), os.path.join(self.tmp, "src"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def plant(self, relative, text, at_top=True):
        path = os.path.join(self.tmp, "src", relative)
        with open(path) as f:
            original = f.read()
        with open(path, "w") as f:
            f.write(text + original if at_top else original + text)

    def assertCaught(self, expected):
        result = check(self.tmp)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(expected, result.stdout)

    def test_the_tree_passes(self):
        result = check(ROOT)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn(", 0 problems", result.stdout)

    def test_engine_including_the_server(self):
        self.plant("engine/session.cc", '#include "server/server.h"\n')
        self.assertCaught("engine/session.cc:1: engine may not include server/server.h")

    def test_kernels_including_the_runtime(self):
        self.plant("engine/kernels/control_flow/control_flow.cc", '#include "engine/runtime/execution_plan.h"\n')
        self.assertCaught("engine/kernels may not include engine/runtime/execution_plan.h")

    def test_transport_including_a_protocol(self):
        self.plant("server/http/http_server.cc", '#include "server/kserve/kserve_routes.h"\n')
        self.assertCaught("server/http may not include server/kserve/kserve_routes.h")

    def test_serving_core_including_the_engine_or_the_transport(self):
        self.plant("server/model_version.cc", '#include "engine/session.h"\n#include "server/http/route_table.h"\n')
        self.assertCaught("server may not include engine/session.h")
        self.assertCaught("server may not include server/http/route_table.h")

    def test_anything_including_the_cli(self):
        self.plant("core/tensor.cc", '#include "cli/command.h"\n')
        self.assertCaught("core may not include cli/command.h")

    def test_third_party_headers_stay_in_their_floor(self):
        self.plant("server/server.cc", "#include <curl/curl.h>\n")
        self.assertCaught("server may not include <curl/curl.h>")

    def test_long_functions_and_files(self):
        body = "".join(f"  x += {i};\n" for i in range(130))
        self.plant("core/status.cc", f"\nnamespace berth::core {{\nint TooLong(int x) {{\n{body}  return x;\n}}\n}}\n",
                   at_top=False)
        self.assertCaught("function TooLong is 133 lines, over 120")
        self.plant("core/tensor_shape.cc", "// filler\n" * 1001)
        self.assertCaught("core/tensor_shape.cc:1:")


def main():
    global ROOT
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    args, rest = parser.parse_known_args()
    ROOT = os.path.abspath(args.root)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
