# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks of SSH public key lines (the ~/.ssh/id_*.pub format), without any dependency.

The same rules as the cluster definition's validation (module_utils/cluster_definition.py), kept
dependency-free here so that modules that only need the key check do not import the validator.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import struct
import unicodedata

SSH_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)


# The fields of each key type's blob after the type string (RFC 4253, 5656, 8709, OpenSSH PROTOCOL.u2f).
_FIELDS = {
    "ssh-rsa": ("e", "n"),
    "ssh-ed25519": ("key",),
    "ecdsa-sha2-nistp256": ("curve", "point"),
    "ecdsa-sha2-nistp384": ("curve", "point"),
    "ecdsa-sha2-nistp521": ("curve", "point"),
    "sk-ssh-ed25519@openssh.com": ("key", "application"),
    "sk-ecdsa-sha2-nistp256@openssh.com": ("curve", "point", "application"),
}


def _strings(blob):
    """The length-prefixed strings of a key blob, or None when it is cut short."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return None
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        if offset + 4 + length > len(blob):
            return None
        fields.append(blob[offset + 4:offset + 4 + length])
        offset += 4 + length
    return fields


def _embedded_key_type(blob):
    """The key-type string at the start of an SSH public key blob (uint32 length + string), or None."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    return blob[4:4 + length].decode("ascii", errors="replace")


def _blob_problem(declared, blob):
    fields = _strings(blob)
    expected = _FIELDS[declared]
    if fields is None or len(fields) != 1 + len(expected):
        return "the key data is truncated or has extra bytes; paste the line of the .pub file unchanged"
    values = dict(zip(expected, fields[1:]))
    if declared == "ssh-rsa" and len(values["n"].lstrip(b"\0")) * 8 < 2048:
        return "the RSA key has fewer than 2048 bits; make a new key (ssh-keygen -t ed25519)"
    if "ed25519" in declared and len(values["key"]) != 32:
        return "the Ed25519 key is not 32 bytes long; paste the line of the .pub file unchanged"
    if "curve" in values and values["curve"].decode("ascii", "replace") != declared.split("-")[-1].split("@")[0]:
        return "the ECDSA curve does not match the key type; paste the line of the .pub file unchanged"
    return None


def _is_key_start(declared, data):
    """Whether declared and data are a key type and key data of that type: where a key line starts."""
    if declared not in SSH_KEY_TYPES:
        return False
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return _embedded_key_type(blob) == declared


def _keys_in(fields):
    """The key lines among whitespace-separated fields: each starts at a key type followed by its key data."""
    starts = [index for index in range(len(fields) - 1) if _is_key_start(fields[index], fields[index + 1])]
    return [fields[start:end] for start, end in zip(starts, starts[1:] + [len(fields)])]


def _control_character(text):
    """The first control or line-separator character of text other than a tab, or None."""
    for character in text:
        if character != "\t" and unicodedata.category(character) in ("Cc", "Zl", "Zp"):
            return character
    return None


def ssh_key_problem(text):
    """Why text is not a usable SSH public key line, or None when it is."""
    if not isinstance(text, str) or not text.strip():
        return "is empty; paste the whole line of ~/.ssh/id_ed25519.pub"
    if text.lstrip().startswith("-----BEGIN") or "PRIVATE KEY" in text:
        return "this is a private key, which must never leave your machine; paste the public key (~/.ssh/id_ed25519.pub) instead"
    text = text.strip()
    keys = _keys_in(text.split())
    if len(keys) > 1:
        shown = ", ".join("'%s ...%s%s'" % (key[0], key[1][-8:], "".join(" " + field for field in key[2:])) for key in keys)
        return ("holds %d keys (%s); give each key as its own item of ssh_keys, e.g. ['ssh-ed25519 AAAA... you@laptop', "
                "'ssh-ed25519 AAAA... you@desktop'] (add_user.yml takes one key per run and keeps the user's other keys)" % (len(keys), shown))
    if text.startswith("---- BEGIN SSH2 PUBLIC KEY"):
        return "is in the RFC 4716 (SSH2, PuTTY) format; convert it with ssh-keygen -i -f FILE and paste the line it prints"
    control = _control_character(text)
    if control in ("\n", "\r"):
        return "spans several lines; paste the line of the .pub file unchanged, as one line"
    if control is not None:
        return "holds the control character U+%04X; paste the line of the .pub file unchanged" % ord(control)
    fields = text.split()
    if len(fields) < 2:
        return "is not an SSH public key; paste the whole line of ~/.ssh/id_ed25519.pub, e.g. 'ssh-ed25519 AAAAC3Nza... you@laptop'"
    declared, data = fields[0], fields[1]
    if declared not in SSH_KEY_TYPES:
        return "key type %r is not supported; use a key of type %s (ssh-keygen -t ed25519)" % (declared, ", ".join(SSH_KEY_TYPES))
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "the key data is not valid base64; paste the line of the .pub file unchanged"
    embedded = _embedded_key_type(blob)
    if embedded is None:
        return "the key data is truncated; paste the line of the .pub file unchanged"
    if embedded != declared:
        return "the key data is of type %r, not %s as declared; paste the line of the .pub file unchanged" % (embedded, declared)
    return _blob_problem(declared, blob)


def normalize_ssh_key(text):
    """The key line as stored: its fields joined by single spaces."""
    return " ".join(text.split())
