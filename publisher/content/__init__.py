"""The posts folder read into the site model: the folder walk (scan), one post file
(posts: its text and front matter, with the YAML readers plainyaml and safeyaml),
the reader of each site dialect behind one interface (readers: plain, jekyll, and
the finishing step they share), URL rules (urls), Markdown to HTML and excerpts
(render), and the whole site (site).
"""
