#!/usr/bin/env python3
"""Runs ../shared/fakes/wemeet_docs_fake.py unchanged, adding one thing the tests need: SIGUSR1
turns its faults off (as our own fake's set_faults does) and then writes the file named by
$DOCS_FAKE_CALM_ACK, so a suite can settle a backlog after
its faulty rounds without losing the meetings the fake holds.

Usage: docs_fake_calm.py PATH/TO/wemeet_docs_fake.py [its arguments ...]
"""
import importlib.util
import os
import signal
import sys

path = sys.argv[1]
spec = importlib.util.spec_from_file_location("wemeet_docs_fake", path)
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)

states = []
original_init = fake.State.__init__


def init(self, args):
    original_init(self, args)
    states.append(self)


fake.State.__init__ = init


def calm(_signum, _frame):
    for st in states:
        for name in ("fail_5xx", "rate_limit", "commit_then_hang", "commit_then_reset",
                     "create_error", "cancel_error"):
            setattr(st.args, name, 0)
    ack = os.environ.get("DOCS_FAKE_CALM_ACK")
    if ack:
        with open(ack, "w") as f:
            f.write("calm\n")


signal.signal(signal.SIGUSR1, calm)
sys.argv = [path] + sys.argv[2:]
sys.exit(fake.main())
