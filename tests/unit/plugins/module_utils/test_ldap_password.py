"""SHA-512 crypt of module_utils/ldap_password against the test vectors of its specification and against openssl."""

import shutil
import subprocess

import pytest

from ansible_collections.kdsw.workbench.plugins.module_utils.ldap_password import (
    hash_password,
    is_hashed,
    sha512_crypt,
    verify_password,
)

# From Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" (the algorithm of glibc's $6$).
VECTORS = [
    ("Hello world!", "saltstring", 5000,
     "$6$rounds=5000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
    ("Hello world!", "saltstringsaltstring", 10000,
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
    ("This is just a test", "toolongsaltstring", 5000,
     "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"),
    ("a very much longer text to encrypt.  This one even stretches over morethan one line.", "anotherlongsaltstring", 1400,
     "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"),
    ("we have a short salt string but not a short password", "short", 77777,
     "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"),
]


@pytest.mark.parametrize("password,salt,rounds,expected", VECTORS)
def test_specification_vectors(password, salt, rounds, expected):
    assert sha512_crypt(password, salt, rounds) == expected
    assert verify_password(password, "{CRYPT}" + expected)
    assert not verify_password(password + "x", "{CRYPT}" + expected)


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
@pytest.mark.parametrize("password", ["x", "pässwörd with spaces", "y" * 65, "z" * 200])
def test_same_as_openssl(password):
    expected = subprocess.run(["openssl", "passwd", "-6", "-salt", "a1b2c3d4e5f6g7h8", "-stdin"], input=password + "\n",
                              capture_output=True, text=True, check=True).stdout.strip()
    # openssl omits rounds=5000 (the default); the hash part is the same.
    assert sha512_crypt(password, "a1b2c3d4e5f6g7h8", 5000).replace("rounds=5000$", "") == expected
    assert verify_password(password, "{CRYPT}" + expected)


def test_hash_password_salts_at_random():
    first, second = hash_password("same password", rounds=1000), hash_password("same password", rounds=1000)
    assert first != second and first.startswith("{CRYPT}$6$rounds=1000$")
    assert verify_password("same password", first) and verify_password("same password", second)
    assert is_hashed(first) and not is_hashed("plain")


def test_other_schemes_never_match():
    assert not verify_password("secret", "{SSHA}abcdefgh")
    assert not verify_password("secret", "secret")
    assert not verify_password("secret", "")
