"""OpenPGP key fingerprints for the roles: an APT signing key is used only when its fingerprint is the
one pinned in the role's data (security review F2).

The fingerprint of a v4 key is SHA-1 over 0x99, the two-byte length of the public-key packet body and
the body (RFC 4880 section 12.2; RFC 9580 keeps it for v4 keys). Only primary keys (packet tag 6)
count; subkeys (tag 14) and signatures are skipped. Hand-written rather than calling gpg: the control
host needs no gpg, and nothing of the key is executed or imported anywhere.
"""
import base64
import binascii
import hashlib

from ansible.errors import AnsibleFilterError


def _dearmor(text):
    lines = text.replace("\r", "").split("\n")
    try:
        start = next(i for i, x in enumerate(lines) if x.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----"))
        end = next(i for i, x in enumerate(lines) if i > start and x.startswith("-----END PGP PUBLIC KEY BLOCK-----"))
    except StopIteration:
        raise AnsibleFilterError("not an ASCII-armored OpenPGP public key") from None
    body = lines[start + 1:end]
    while body and body[0].strip():  # armor headers (Version: ...) end at the first empty line
        if ":" not in body[0]:
            break
        body = body[1:]
    data = "".join(x.strip() for x in body if x.strip() and not x.startswith("="))
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise AnsibleFilterError("the key's armor is not valid base64") from None


def _packets(data):
    i = 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise AnsibleFilterError("not an OpenPGP packet at byte %d" % i)
        if head & 0x40:  # new format
            tag, i = head & 0x3F, i + 1
            first = data[i]
            if first < 192:
                length, i = first, i + 1
            elif first < 224:
                length, i = ((first - 192) << 8) + data[i + 1] + 192, i + 2
            elif first == 255:
                length, i = int.from_bytes(data[i + 1:i + 5], "big"), i + 5
            else:
                raise AnsibleFilterError("partial-length packets do not occur in a key")
        else:  # old format
            tag, ltype, i = (head >> 2) & 0x0F, head & 0x03, i + 1
            if ltype == 3:
                raise AnsibleFilterError("indeterminate-length packets do not occur in a key")
            n = (1, 2, 4)[ltype]
            length, i = int.from_bytes(data[i:i + n], "big"), i + n
        if i + length > len(data):
            raise AnsibleFilterError("truncated OpenPGP packet")
        yield tag, data[i:i + length]
        i += length


def pgp_fingerprints(text):
    """Fingerprints (upper-case hex) of the primary keys in an armored (or binary) public key."""
    data = text.encode("latin-1") if isinstance(text, str) and "-----BEGIN" not in text else None
    if data is None:
        data = _dearmor(str(text))
    out = []
    for tag, body in _packets(data):
        if tag != 6:
            continue
        if not body or body[0] != 4:
            raise AnsibleFilterError("only version 4 keys are accepted (version %s)" % (body[0] if body else "?"))
        out.append(hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper())  # noqa: S324
    if not out:
        raise AnsibleFilterError("no public key in the key file")
    return out


class FilterModule:
    def filters(self):
        return {"pgp_fingerprints": pgp_fingerprints}
