"""The list's public pages: `publisher serve`, and `publisher run` when `[web] base_url` is set.

- `app`: the Starlette application and its routes;
- `forms`: reading request bodies (capped) and checking what people typed;
- `security`: response headers, the Origin check, the client address;
- `limits`: per-IP and per-address rate limits;
- `db`: the state store, used from one thread;
- `pages`: Jinja pages from `[web] templates`;
- `static`: `out/` for local preview, with ETag, Last-Modified and 304;
- `server`: uvicorn, in the foreground or in a thread of `publisher run`.
"""
