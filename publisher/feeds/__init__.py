"""The feeds a site has and their files: the registry of feed formats (formats),
which feeds exist (plan), Atom and RSS 2.0 with feedgen (atom_rss), JSON Feed
(json_feed), autodiscovery tags (page), which feeds are already up to date
(cache), and WebSub pings (websub).
"""
