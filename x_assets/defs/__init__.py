"""The project's defs folder: each source added with `dg scaffold defs x_assets.XSourceComponent <name>`
gets a folder here (a defs.yaml and its source file). The default source is configured from the
environment instead (X_SOURCE_FILE), under the names it has always had."""
