"""Agent presets: how to start each coding-agent CLI headlessly and how to read its result."""
