"""The demo's Definitions for `dagster dev` (scripts/ui.sh): the default source and the competitors
source, configured by data/demo.env as `x-assets demo` left it."""

from .demo import demo_definitions

defs = demo_definitions()
