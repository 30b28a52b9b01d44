# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The inventory's users file (group_vars/all/users.yml, variable workbench_users) that add_user.yml
and remove_user.yml keep: read, change one user, write, under an exclusive lock.

Runs may overlap, so a change is merged into the file as it is on disk while the lock is held, never
into what a run read when it started, and the file is replaced in one rename, never written in place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import tempfile
import time
import traceback

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

VARIABLE = "workbench_users"
HEADER = (
    "---\n"
    "# Written by add_user.yml and remove_user.yml: the users added from the command line.\n"
    "# site.yml keeps them in the directory like the users of the definition file.\n"
)
NEW_FILE_MODE = 0o644
STATES = ("present", "disabled", "absent")


class UsersFileError(Exception):
    pass


def lock_path(path):
    """The lock file beside path: hidden, so that Ansible never loads it as variables."""
    directory, name = os.path.split(path)
    return os.path.join(directory, ".%s.lock" % name)


@contextlib.contextmanager
def exclusive_lock(path, timeout, poll=0.1):
    """Hold an exclusive flock on lock_path(path) for the block; UsersFileError after timeout seconds.

    The kernel releases the lock when its holder exits, however it exits, so a lock is never stale;
    the lock file itself stays (removing it would let two runs lock two different files).
    """
    lock = lock_path(path)
    try:
        handle = os.open(lock, os.O_RDONLY | os.O_CREAT, NEW_FILE_MODE)
    except OSError as error:
        raise UsersFileError("cannot open the lock file %s: %s" % (lock, error.strerror))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise UsersFileError("cannot lock %s: %s" % (lock, error.strerror))
            if time.monotonic() >= deadline:
                raise UsersFileError(
                    "another run still holds the lock %s after %s seconds (an add_user.yml or remove_user.yml on the same "
                    "inventory); %s was not changed: run again when it has finished, or raise lock_timeout"
                    % (lock, timeout, path))
            time.sleep(poll)
        yield
    finally:
        os.close(handle)


def read(path):
    """(document, text) of the users file: its top-level mapping and its text; ({}, None) when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}, None
    except OSError as error:
        raise UsersFileError("cannot read %s: %s" % (path, error.strerror))
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsersFileError("%s is not valid YAML (%s); correct it by hand, nothing was changed" % (path, error))
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise UsersFileError("%s must hold a mapping such as `%s: []`, not a %s; nothing was changed" % (path, VARIABLE, type(document).__name__))
    users = document.get(VARIABLE)
    if users is None:
        users = []
    if not isinstance(users, list):
        raise UsersFileError("%s: %s must be a list of users, not a %s; nothing was changed" % (path, VARIABLE, type(users).__name__))
    for index, user in enumerate(users):
        if not isinstance(user, dict) or not isinstance(user.get("name"), str):
            raise UsersFileError("%s: %s[%d] is not a user with a name (such as {name: bob}); correct it by hand, nothing was changed"
                                 % (path, VARIABLE, index))
    return document, text


def users_of(document):
    return list(document.get(VARIABLE) or [])


def merge(users, name, state, entry=None):
    """The users with one user changed, sorted by name.

    present: the user's entry becomes entry (added if missing); disabled: the recorded entry gets
    state disabled (nothing when the user is not recorded); absent: the user's entry is removed.
    Every other entry is kept as it is.
    """
    if state not in STATES:
        raise ValueError("state must be one of %s" % ", ".join(STATES))
    others = [user for user in users if user.get("name") != name]
    recorded = [user for user in users if user.get("name") == name]
    if state == "present":
        others.append(dict({"name": name}, **{key: value for key, value in (entry or {}).items() if key != "name"}))
    elif state == "disabled":
        others.extend(dict(user, state="disabled") for user in recorded[:1])
    return sorted(others, key=lambda user: user["name"])


def render(document):
    """The file's text: the header, then the document as add_user.yml always wrote it (to_nice_yaml, indent 2)."""
    return HEADER + yaml.safe_dump(document, indent=2, allow_unicode=True, default_flow_style=False, sort_keys=True)


def write_atomically(path, text):
    """Replace path by text in one rename (a reader sees the old file or the new one), keeping its mode."""
    directory, name = os.path.split(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    try:
        handle, temporary = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory or ".")
    except OSError as error:
        raise UsersFileError("cannot write beside %s: %s" % (path, error.strerror))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UsersFileError("cannot write %s: %s" % (path, error.strerror))
    with contextlib.suppress(OSError):
        directory_handle = os.open(directory or ".", os.O_RDONLY)
        try:
            os.fsync(directory_handle)
        finally:
            os.close(directory_handle)


def update(path, name, state, entry=None, lock_timeout=60, check_mode=False):
    """Change one user of the users file; returns (changed, before_text, after_text, users).

    Outside check mode the lock is held from the read to the rename. In check mode nothing is locked
    or created: the file is only read (a rename never shows a half-written file).
    """
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise UsersFileError("the directory of %s does not exist: create it (it is the inventory's group_vars/all)" % path)
    lock = contextlib.nullcontext() if check_mode else exclusive_lock(path, lock_timeout)
    with lock:
        document, before = read(path)
        users = merge(users_of(document), name, state, entry)
        if users == users_of(document):
            return False, before or "", before or "", users
        after = render(dict(document, **{VARIABLE: users}))
        if not check_mode:
            write_atomically(path, after)
    return True, before or "", after, users
