"""The Lightly API emulator, one module per area; scripts/lightly_emulator.py runs cli.main.

Layers, each importing only from the ones before it: common, content | fields |
bodies, stats, faults, wire | store_tags, store | routes_* | emulator, server, seed | cli.
"""
