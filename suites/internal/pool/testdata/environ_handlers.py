"""What a handler sees of its process's environment (the zygote-secret spec)."""

import os


def environ(args):
    return dict(os.environ)
