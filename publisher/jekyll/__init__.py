"""Jekyll fidelity: read a Jekyll site as Jekyll and jekyll-feed would.

- `siteconfig`: `_config.yml` (and `--jekyll-config` files), `_data/authors`,
  into a `Config` (publisher.toml keys win);
- `rules`: Jekyll's rules for file names, dates, slugs, URLs, ids, front
  matter defaults and categories from folders, as plain functions;
- `markdown`: kramdown-like Markdown (footnotes, IALs, definition lists,
  `$$` math, header ids, typography) with markdown-it plugins;
- `liquid`: Liquid with Jekyll's objects, tags and filters (python-liquid).

Only a Jekyll site (`Config.jekyll_site`) pays for any of this: the modules
are imported on first use.
"""
