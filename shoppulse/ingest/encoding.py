"""Request bodies' ``Content-Encoding``, decoded here with the body limit applied to the
decoded bytes.

The collector's server runs with aiohttp's own decompression off (``SERVER_OPTIONS``):
aiohttp refused an encoding it has no decoder for (``br`` without Brotli, ``zstd``) in
its HTTP parser, with a plain-text 400 and its own ``Server`` header, and took several
encodings in one header, or unknown ones, as no encoding at all. Here a body is taken as
``identity``, ``gzip`` or ``deflate``, or refused with a JSON answer.
"""

from __future__ import annotations

import zlib

from shoppulse.ingest.exceptions import RequestRefused

SERVER_OPTIONS = {"auto_decompress": False}
"""aiohttp request-handler options every server of the collector's app runs with."""

ENCODINGS = ("identity", "gzip", "deflate")

# zlib's window bits: gzip framing; deflate in its zlib wrapper (RFC 9110), and raw
# deflate, which some clients send under the same name.
_GZIP, _ZLIB, _RAW = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS


def decode_body(raw: bytes, content_encoding: str, limit: int) -> bytes:
    """The body as sent before encoding, at most ``limit`` bytes once decoded.

    Raises RequestRefused: 415 for an encoding other than those of ``ENCODINGS`` (or a
    chain of them), 413 when the decoded body passes ``limit`` (inflating stops there,
    so a small bomb costs no memory), 400 ``invalid_json`` when it does not decode.
    """
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        return _inflate(raw, _GZIP, limit)
    if encoding == "deflate":
        try:
            return _inflate(raw, _ZLIB, limit)
        except RequestRefused as refused:
            if refused.status != 400:
                raise
            return _inflate(raw, _RAW, limit)
    raise RequestRefused(
        415,
        "unsupported_media_type",
        f"Content-Encoding {content_encoding!r} is not supported: send {', '.join(ENCODINGS)}",
    )


def _inflate(raw: bytes, window_bits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(window_bits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise RequestRefused(400, "invalid_json", f"the body could not be decompressed: {exc}") from None
    if len(body) > limit:
        raise RequestRefused(413, "body_too_large", f"the body exceeds {limit} bytes once decompressed")
    if not inflater.eof:
        raise RequestRefused(400, "invalid_json", "the compressed body is cut short")
    return body
