"""``python -m tests.emulators --port 8765 --redirect-base http://127.0.0.1:8000``: the emulator alone."""

import argparse
import threading

from tests.emulators.server import Emulator, environment

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--port", type=int, default=8765)
parser.add_argument("--redirect-base", default="http://127.0.0.1:8000")
args = parser.parse_args()
emulator = Emulator(args.port)
emulator.allow_redirects_to(args.redirect_base)
emulator.start()
print("Set these for ScopeGate:")
for name, value in environment(args.port).items():
    print(f"export {name}={value}")
threading.Event().wait()
