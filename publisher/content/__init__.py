"""The posts folder read into the site model: the folder walk (scan), one post file
(posts, with the YAML readers plainyaml and safeyaml), URL rules (urls), Markdown to
HTML and excerpts (render), and the whole site (site).
"""
