"""Validation of request bodies and queries: fields, file names, bitmasks, paging.

Each check raises ApiError (400 MALFORMED_REQUEST) with the message the
client sees; bit_selector/set_bits turn a tag's bitmask into sample indices.
"""

import itertools

from .common import MAX_FILE_NAME_CHARS, RE_BITMASK, RE_OBJECT_ID, RE_TAG_NAME, malformed

def need_object(body):
    if not isinstance(body, dict):
        raise malformed("request body must be a JSON object")
    return body


def field_str(body, key, required):
    if key not in body:
        if required:
            raise malformed("missing required field '%s'" % key)
        return None
    val = body[key]
    if not isinstance(val, str):
        raise malformed("field '%s' must be a string" % key)
    return val


def field_int(body, key, required, minimum=0):
    if key not in body:
        if required:
            raise malformed("missing required field '%s'" % key)
        return None
    val = body[key]
    if isinstance(val, bool) or not isinstance(val, int) or val < minimum:
        raise malformed("field '%s' must be an integer >= %d" % (key, minimum))
    return val


def field_id(body, key, required):
    val = field_str(body, key, required)
    if val is not None and not RE_OBJECT_ID.match(val):
        raise malformed("field '%s' is not a MongoObjectID" % key)
    return val


def field_tag_name(body, key, required):
    val = field_str(body, key, required)
    if val is not None and not RE_TAG_NAME.match(val):
        raise malformed("field '%s' is not a valid tag name" % key)
    return val


def field_enum(body, key, allowed, required):
    val = field_str(body, key, required)
    if val is not None and val not in allowed:
        raise malformed("field '%s' must be one of %s" % (key, ", ".join(sorted(allowed))))
    return val


def field_object(body, key):
    if key not in body:
        return None
    if not isinstance(body[key], dict):
        raise malformed("field '%s' must be an object" % key)
    return body[key]


def parse_bitmask(text, n_samples, key="bitMaskData"):
    if not isinstance(text, str) or not RE_BITMASK.match(text):
        raise malformed("field '%s' must match ^0x[a-f0-9]+$ without leading zeros" % key)
    value = int(text, 16)
    if value.bit_length() > n_samples:
        raise malformed("field '%s' sets bit %d but the dataset has %d samples"
                        % (key, value.bit_length() - 1, n_samples))
    return value


def utf8_ok(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_file_name(name):
    if not isinstance(name, str) or not name:
        raise malformed("fileName must be a non-empty string")
    if len(name) > MAX_FILE_NAME_CHARS:
        raise malformed("fileName longer than %d characters" % MAX_FILE_NAME_CHARS)
    if "\x00" in name or not utf8_ok(name):
        raise malformed("fileName contains NUL or invalid unicode")
    if name.startswith("/"):
        raise malformed("fileName must be a relative path")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise malformed("fileName has an empty, '.' or '..' component")


def check_sample_fields(body):
    """SampleCreateRequest's optional fields: types of what the reference names."""
    field_str(body, "thumbName", False)
    for key in ("exif", "customMetaData", "videoFrameData", "crop"):
        field_object(body, key)
    meta = field_object(body, "metaData")
    if meta is None:
        return
    field_int(meta, "sizeInBytes", False)
    shape = meta.get("shape")
    if shape is not None and (not isinstance(shape, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape)):
        raise malformed("field 'metaData.shape' must be an array of integers >= 0")


_BIT_SELECTOR = bytes.maketrans(b"01", b"\x00\x01")


def bit_selector(value):
    """One byte per bit of value, LSB first, 1 where set: an itertools.compress selector."""
    if not value:
        return b""
    return format(value, "b")[::-1].encode("ascii").translate(_BIT_SELECTOR)


def set_bits(value):
    """Indices of the set bits of value, ascending."""
    sel = bit_selector(value)
    return list(itertools.compress(range(len(sel)), sel))


def page_params(query):
    def as_int(key, minimum):
        raw = query.get(key)
        if raw is None:
            return None
        try:
            val = int(raw, 10)
        except ValueError:
            raise malformed("query '%s' must be an integer" % key) from None
        if val < minimum:
            raise malformed("query '%s' must be >= %d" % (key, minimum))
        return val

    offset = as_int("pageOffset", 0) or 0
    size = as_int("pageSize", 1)
    return offset, size


def page_slice(seq, query):
    offset, size = page_params(query)
    return seq[offset:] if size is None else seq[offset:offset + size]
