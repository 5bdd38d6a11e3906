"""The email digest: which posts go in it and issuing it (selection), rendering the
letter with Jinja2 and premailer (letter), and the public archive (archive).
"""
