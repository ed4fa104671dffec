"""A user module whose method clashes with a built-in."""


def ping(args: object) -> str:
    return "mine"
