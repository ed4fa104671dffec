"""A module in a subdirectory: copied along with its directory."""


def shout(text: str) -> str:
    return text.upper() + "!"
