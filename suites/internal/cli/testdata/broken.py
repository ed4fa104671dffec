"""Fails at import, as a module whose model file is missing does."""


def load_model():
    raise RuntimeError("model file weights.bin is missing")


MODEL = load_model()
