# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Password hashes for the workbench directory, made on the control machine.

The scheme is {CRYPT} with SHA-512 crypt ($6$, the algorithm of glibc's crypt(3) by Ulrich Drepper):
Debian's slapd verifies {CRYPT} values with the system's crypt(3) (libxcrypt), which knows $6$,
without loading any module, and it is the strongest scheme slapd checks out of the box ({SSHA} is
one round of salted SHA-1; {ARGON2} and {SSHA512} need extra modules). Python's crypt module is
deprecated and gone from Python 3.13, so the algorithm is implemented here with hashlib; its
output is byte for byte that of crypt(3).

Pure Python: no Ansible import, so that the test harness can hash the administrator's password too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import os
import re

SCHEME = "{CRYPT}"
DEFAULT_ROUNDS = 100000
MIN_ROUNDS = 1000
MAX_ROUNDS = 999999999
SALT_CHARS = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B64 = SALT_CHARS
# The order in which crypt(3) encodes the 64 bytes of the final digest, three at a time.
_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)
_HASH_RE = re.compile(r"^\{CRYPT\}\$6\$(?:rounds=(\d+)\$)?([^$]{0,16})\$([./0-9A-Za-z]{86})$")


def _repeat(digest, length):
    return (digest * (length // len(digest) + 1))[:length]


def sha512_crypt(password, salt, rounds=DEFAULT_ROUNDS):
    """The crypt(3) string $6$rounds=<rounds>$<salt>$<hash> of password (str) with salt (up to 16 characters)."""
    secret = password.encode("utf-8")
    salt_bytes = salt.encode("ascii")[:16]
    rounds = max(MIN_ROUNDS, min(MAX_ROUNDS, int(rounds)))
    alternate = hashlib.sha512(secret + salt_bytes + secret).digest()
    intermediate = hashlib.sha512(secret + salt_bytes)
    intermediate.update(_repeat(alternate, len(secret)))
    length = len(secret)
    while length:
        intermediate.update(alternate if length & 1 else secret)
        length >>= 1
    digest = intermediate.digest()
    p_bytes = _repeat(hashlib.sha512(secret * len(secret)).digest(), len(secret))
    s_bytes = _repeat(hashlib.sha512(salt_bytes * (16 + digest[0])).digest(), len(salt_bytes))
    sha512 = hashlib.sha512
    for index in range(rounds):
        step = sha512(p_bytes if index & 1 else digest)
        if index % 3:
            step.update(s_bytes)
        if index % 7:
            step.update(p_bytes)
        step.update(digest if index & 1 else p_bytes)
        digest = step.digest()
    chars = []
    for first, second, third in _ORDER:
        word = (digest[first] << 16) | (digest[second] << 8) | digest[third]
        for dummy in range(4):
            chars.append(_B64[word & 63])
            word >>= 6
    word = digest[63]
    for dummy in range(2):
        chars.append(_B64[word & 63])
        word >>= 6
    return "$6$rounds=%d$%s$%s" % (rounds, salt_bytes.decode("ascii"), "".join(chars))


def new_salt(length=16):
    return "".join(SALT_CHARS[byte % 64] for byte in os.urandom(length))


def hash_password(password, rounds=DEFAULT_ROUNDS, salt=None):
    """The userPassword value for password: {CRYPT}$6$rounds=N$salt$hash with a random salt."""
    return SCHEME + sha512_crypt(password, salt or new_salt(), rounds)


def is_hashed(value):
    """Whether value looks like a {SCHEME}... userPassword value rather than a password."""
    return bool(re.match(r"^\{[A-Za-z0-9.+-]+\}", value or ""))


def verify_password(password, stored):
    """Whether stored (a userPassword value) is the hash of password.

    Only {CRYPT}$6$ values can be checked here; any other scheme is reported as not matching
    (so that update_password=always replaces it with a {CRYPT}$6$ hash).
    """
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    match = _HASH_RE.match(stored or "")
    if not match:
        return False
    rounds = int(match.group(1)) if match.group(1) else 5000
    expected = SCHEME + sha512_crypt(password, match.group(2), rounds)
    if not match.group(1):
        expected = expected.replace("rounds=5000$", "", 1)
    return hmac.compare_digest(expected.encode("utf-8"), stored.encode("utf-8"))
