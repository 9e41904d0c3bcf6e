"""mirrord keeps git repositories as living mirrors of news sites."""

__version__ = "0.1.0"
