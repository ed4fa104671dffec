"""A handler using a preloaded heavy module when it is there."""

import random


def draw(args):
    return random.random()
