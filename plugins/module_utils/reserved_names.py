# -*- coding: utf-8 -*-
# Copyright: kdsw.workbench maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The user names the workbench refuses, and why: one list for the definition and for add_user.yml.

The bastion (roles/bastion, bastion_image) writes its passwd file as the image's own accounts followed by the directory's
users, so a directory user named like one of the image's accounts resolves to the image's account: `daemon` would log in
as uid 2. The notebook servers (roles/jupyterhub, jupyterhub_notebook_image) run with the user's name as NB_USER in an
image that has accounts of its own, which the name would resolve to as well.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# name -> uid in /etc/passwd of the bastion's image, docker.io/library/alpine:3.22 (alpine-baselayout), and of the
# sshd and ldapsearch packages it installs (openssh-server adds no account that the base lacks).
BASTION_IMAGE_ACCOUNTS = {
    "root": 0, "bin": 1, "daemon": 2, "lp": 4, "sync": 5, "shutdown": 6, "halt": 7, "mail": 8, "news": 9, "uucp": 10,
    "cron": 16, "ftp": 21, "sshd": 22, "games": 35, "ntp": 123, "guest": 405, "nobody": 65534,
}
# name -> uid in /etc/passwd of the notebook images, quay.io/jupyter/*-notebook (Jupyter Docker Stacks on Ubuntu 24.04).
NOTEBOOK_IMAGE_ACCOUNTS = {
    "root": 0, "daemon": 1, "bin": 2, "sys": 3, "sync": 4, "games": 5, "man": 6, "lp": 7, "mail": 8, "news": 9,
    "uucp": 10, "proxy": 13, "www-data": 33, "backup": 34, "list": 38, "irc": 39, "_apt": 42, "nobody": 65534,
}
# Further system accounts of Debian-family images: Debian's gnats, and those that common packages add (dbus, systemd).
DEBIAN_SYSTEM_ACCOUNTS = ("gnats", "messagebus")
# The notebook images' own user: its home, its files and the images' start script belong to it.
NOTEBOOK_USER = "jovyan"
# Prefixes of the system accounts of Debian-family images (systemd-network, systemd-resolve, _apt, _chrony, ...).
RESERVED_PREFIXES = ("systemd-", "_")


def reserved_reason(name, group_names=()):
    """Why name may not be a user's name (a phrase for "'<name>' is reserved: <reason>"), or None when it may.

    group_names are the names of the workbench's own groups (workbench.groups).
    """
    if not isinstance(name, str):
        return None
    if name == NOTEBOOK_USER:
        return ("it is the notebook images' own user (Jupyter Docker Stacks), who owns their home and files; the user's "
                "server would be taken for it")
    places = []
    if name in BASTION_IMAGE_ACCOUNTS:
        places.append(f"uid {BASTION_IMAGE_ACCOUNTS[name]} in the bastion's Alpine Linux")
    if name in NOTEBOOK_IMAGE_ACCOUNTS:
        places.append(f"uid {NOTEBOOK_IMAGE_ACCOUNTS[name]} in the notebooks' Ubuntu")
    if places:
        return (f"it is a system account of the images the workbench runs, {' and '.join(places)}; the images' own accounts "
                f"come before the directory's users, so {name} would log in as that account")
    if name in DEBIAN_SYSTEM_ACCOUNTS:
        return "it is a system account of Debian-family images such as the notebook images"
    prefix = next((prefix for prefix in RESERVED_PREFIXES if name.startswith(prefix)), None)
    if prefix:
        return f"names starting with {prefix!r} are system accounts of Debian-family images such as the notebook images"
    if name in group_names:
        return "it is the name of a group of workbench.groups; a user and a group of one name are confused on the bastion and in the notebooks"
    return None
