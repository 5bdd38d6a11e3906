"""Jekyll fidelity: read a Jekyll site as Jekyll and jekyll-feed would.

- `siteconfig`: `_config.yml` (and `--jekyll-config` files), `_data/authors`,
  into a `Config` (publisher.toml keys win);
- `rules`: Jekyll's rules for file names, dates, slugs, URLs, ids, front
  matter defaults and categories from folders, as plain functions;
- `document`: one post file as Jekyll's `Document` reads it (the reader
  `content.readers.jekyll` builds the Post from it);
- `markdown`: kramdown-like Markdown (footnotes, IALs, definition lists,
  `$$` math, header ids, typography) with markdown-it plugins;
- `typography`: kramdown's smart quotes, dashes and ellipses (`smartify`);
- `liquid`: Liquid with Jekyll's objects, tags and filters (python-liquid).

Only a Jekyll site (`Config.jekyll_site`) pays for any of this: the modules
are imported on first use.
"""
