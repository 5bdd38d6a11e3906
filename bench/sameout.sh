#!/usr/bin/env bash
# Outputs of two source trees on the same sites, byte for byte: out/ of the
# bundled site (category and tag feeds on), of a generated 10,000-post site and of
# a Jekyll site, and the outbox less Date. Both sides share one state store (and
# so one list key). Used for issue 21: a refactor must not change any output.
# usage: bench/sameout.sh OLD_TREE NEW_TREE WORK   (COUNT=2000 for a quick run)
set -euo pipefail
OLD=$1; NEW=$2; W=$3
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=$REPO/.venv/bin/python
rm -rf "$W"; mkdir -p "$W/base"
export PUBLISHER_SECRET=sameout-secret-0123456789abcdef
NOW=2026-11-21T09:00:00+00:00
# 1. the bundled site with categories, tags, the outbox and 3 subscribers
cp -r "$REPO/content" "$W/base/content"
cat > "$W/base/publisher.toml" <<TOML
[site]
title = "Same Out"
url = "https://news.example.org/"
timezone = "Europe/Berlin"
[feeds]
categories = "all"
tags = "all"
[delivery]
transport = "outbox"
from = "News <news@news.example.org>"
unsubscribe_url = "https://news.example.org/unsubscribe"
TOML
# 2. a 10,000-post Jekyll-style site (bench generator) under a plain config
(cd "$REPO" && $PY -m bench.generate posts "$W/base/big" --count ${COUNT:-10000} >/dev/null)
cat > "$W/base/big.toml" <<TOML
[site]
title = "Big"
url = "https://big.example.org/"
[content]
posts = "big"
[output]
path = "bigout"
[feeds]
limit = 100000
categories = "all"
TOML
# 3. a Jekyll site: _config.yml, _posts/ in two category folders, an include, Liquid
mkdir -p "$W/base/jk/_posts" "$W/base/jk/en/news/_posts" "$W/base/jk/_includes" "$W/base/jk/_data"
printf 'title: Jekyll Same\nurl: https://jk.example.org\nbaseurl: /blog\nplugins: [jekyll-feed]\nauthor: Jay\n' > "$W/base/jk/_config.yml"
printf 'Included <b>text</b> \x1b here.\n' > "$W/base/jk/_includes/note.html"
printf 'motto: Stay curious\n' > "$W/base/jk/_data/site.yml"
ls "$W/base/big" | sed -n 1,300p | while read f; do cp "$W/base/big/$f" "$W/base/jk/_posts/$f"; done
printf -- '---\ntitle: "News **bold**"\ncategories: [world]\ntags: [a, b]\n---\n{%% include note.html %%} {{ site.data.site.motto }} {{ page.title }}\n' > "$W/base/jk/en/news/_posts/2025-12-01-news.md"
printf -- '---\ntitle: Unpadded\n---\nBody.\n' > "$W/base/jk/_posts/2014-3-3-hello.md"
printf '[jekyll]\nsite = "jk"\n[output]\npath = "jkout"\n' > "$W/base/jk.toml"
# one store made once (its salt is the list's key), then copied to both
(cd "$W/base" && PYTHONPATH=$OLD $PY -m publisher subscribers add ann@example.com --name Ann >/dev/null \
  && PYTHONPATH=$OLD $PY -m publisher subscribers add bob@example.org >/dev/null \
  && PYTHONPATH=$OLD $PY -m publisher subscribers add "chen@example.net" --name "陈" >/dev/null)
# the list's salt, made once here so both sides sign with the same key
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT OR IGNORE INTO meta (key, value) VALUES ('install.salt', '00112233445566778899aabbccddeeff')\"); c.commit()" "$W/base/.publisher/state.db"
for side in old new; do
  cp -a "$W/base" "$W/$side"
  tree=$OLD; [ $side = new ] && tree=$NEW
  (cd "$W/$side" && PYTHONPATH=$tree $PY -m publisher publish --now $NOW > log.txt 2>&1 \
     && PYTHONPATH=$tree $PY -m publisher --config big.toml publish --no-digest --now $NOW >> log.txt 2>&1 \
     && PYTHONPATH=$tree $PY -m publisher --config jk.toml publish --no-digest --now $NOW >> log.txt 2>&1) \
     || { echo "$side failed"; cat "$W/$side/log.txt"; exit 1; }
  find "$W/$side/.publisher/outbox" -name '*.eml' -exec sed -i '/^Date: /d' {} +
done
diff -r "$W/old/out" "$W/new/out" && echo "out/: identical ($(find "$W/new/out" -type f | wc -l) files)"
diff -r "$W/old/bigout" "$W/new/bigout" && echo "bigout/: identical ($(find "$W/new/bigout" -type f | wc -l) files)"
diff -r "$W/old/jkout" "$W/new/jkout" && echo "jkout/: identical ($(find "$W/new/jkout" -type f | wc -l) files)"
diff -r "$W/old/.publisher/outbox" "$W/new/.publisher/outbox" && echo "outbox: identical ($(find "$W/new/.publisher/outbox" -type f | wc -l) messages, Date removed)"
