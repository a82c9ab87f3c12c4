"""Is a value a cdktf or cdktn token (known only at apply time)? Answered in Python.

`Token.is_unresolved` answers the same question through the jsii kernel: one
round trip to node (~0.5 ms) per value, and the constructs ask it for most options.
This is the same test, on the same encodings, without leaving Python. The encodings
are cdktf 0.21's and cdktn 0.24's, which kept them (`lib/tokens/private/encoding.js`): a token embedded in a string is
`${TfToken[KEY]}` (a list of strings holds one `#{TfToken[KEY]}`, a map a key
`&{TfToken[KEY]}`); a number token is a double whose top 16 bits are 0xfdff (0xfbff
inside a one-element list of numbers); anything else is a token when it has a
`resolve` method (an IResolvable), which for an object of a type Python does not know
only the kernel can tell. tests/infra/test_tokens.py compares both answers.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Mapping
from typing import Any

from .engine import ENGINES

_KEY = r"[a-zA-Z0-9:._-]+"
_STRING_TOKEN = re.compile(r"\$\{TfToken\[" + _KEY + r"\]\}")
_LIST_TOKEN = re.compile(r"#\{TfToken\[" + _KEY + r"\]\}")
_MAP_TOKEN = re.compile(r"&\{TfToken\[" + _KEY + r"\]\}")
_NUMBER_MARKER = 0xFDFF
_LIST_NUMBER_MARKER = 0xFBFF


def is_unresolved(value: Any) -> bool:
    """True for a cdktf token, or a string, list or map that embeds one."""
    if isinstance(value, str):
        return _STRING_TOKEN.search(value) is not None
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return _double_marker(value) == _NUMBER_MARKER
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return False
        (item,) = value
        if isinstance(item, str):
            return _LIST_TOKEN.search(item) is not None
        return isinstance(item, (int, float)) and not isinstance(item, bool) and _double_marker(item) == _LIST_NUMBER_MARKER
    if isinstance(value, Mapping) and any(isinstance(k, str) and _MAP_TOKEN.search(k) for k in value):
        return True
    if callable(getattr(value, "resolve", None)):
        return True
    # An object living in the kernel whose type Python was not told (e.g. a variable's
    # `value`): only the kernel knows. Rare; every other answer stays in Python. Either
    # engine's Token answers for any kernel object, and the stack's engine is loaded.
    return getattr(value, "__jsii_ref__", None) is not None and _loaded_engine().Token.is_unresolved(value)


def _loaded_engine() -> Any:
    return next(sys.modules[name] for name in ENGINES if name in sys.modules)


def _double_marker(number: int | float) -> int | None:
    """The top 16 bits of the number as an IEEE double (None if it is not one)."""
    try:
        (bits,) = struct.unpack("<Q", struct.pack("<d", float(number)))
    except OverflowError:
        return None
    return bits >> 48
