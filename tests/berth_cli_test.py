"""The entry point the Python test files share: `--berth BIN` (the binary
under test, made absolute), then unittest's own arguments.

    if __name__ == "__main__":
        berth_cli_test.main(sys.modules[__name__])

sets the module's BERTH before its tests run.
"""
import argparse
import os
import sys
import unittest


def main(module):
    parser = argparse.ArgumentParser()
    parser.add_argument("--berth", required=True)
    args, rest = parser.parse_known_args()
    module.BERTH = os.path.abspath(args.berth)
    unittest.main(module=module, argv=[sys.argv[0]] + rest, verbosity=2)
