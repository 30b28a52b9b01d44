# -*- coding: utf-8 -*-

# Copyright: Contributors to the kdsw.workbench project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One LDAP connection for the collection's directory modules (python-ldap).

* connect(...)            open, StartTLS, simple bind; failures become LdapClientError with a message that
                          says what went wrong and what to check (server down, TLS, credentials)
* search(conn, ...)       a search whose errors are translated the same way
* Writer(conn)            add / modify / delete pipelined over the connection (many operations in
                          flight, results read afterwards), errors collected per entry
* describe(error)         the text of a python-ldap exception

python-ldap is imported under a guard: modules check HAS_LDAP and fail with missing_required_lib('python-ldap').
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import traceback

LDAP_IMPORT_ERROR = None
try:
    import ldap
    import ldap.dn
    import ldap.modlist  # noqa: F401  pylint: disable=unused-import
    HAS_LDAP = True
except ImportError:
    LDAP_IMPORT_ERROR = traceback.format_exc()
    HAS_LDAP = False


class LdapClientError(Exception):
    """A failed LDAP operation, with a message meant for the person running the playbook."""


def describe(error):
    """'desc (info)' of a python-ldap exception, or its text."""
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else None
    if not details:
        return str(error)
    text = details.get("desc") or type(error).__name__
    info = details.get("info")
    if info and info != text:
        text = "%s: %s" % (text, info)
    return text


def escape_dn_value(value):
    return ldap.dn.escape_dn_chars(value)


def connect(server_uri, bind_dn, bind_pw, start_tls=True, ca_file=None, validate_certs=True, timeout=30):
    """A connection to server_uri bound as bind_dn, over TLS unless server_uri is ldapi:// or start_tls is false."""
    scheme = server_uri.split(":", 1)[0].lower()
    use_start_tls = start_tls and scheme == "ldap"
    try:
        conn = ldap.initialize(server_uri)
        conn.protocol_version = ldap.VERSION3
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
        conn.set_option(ldap.OPT_TIMEOUT, timeout)
        if scheme in ("ldap", "ldaps"):
            if ca_file:
                conn.set_option(ldap.OPT_X_TLS_CACERTFILE, ca_file)
            conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND if validate_certs else ldap.OPT_X_TLS_NEVER)
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    except (ldap.LDAPError, ValueError) as error:
        raise LdapClientError("cannot use the LDAP server URI %r: %s" % (server_uri, describe(error)))

    if use_start_tls:
        try:
            conn.start_tls_s()
        except ldap.SERVER_DOWN as error:
            raise LdapClientError(_server_down(server_uri, error))
        except ldap.LDAPError as error:
            raise LdapClientError(
                "StartTLS with %s failed (%s). The server's certificate could not be verified%s, or the server does not "
                "offer TLS: check that ca_file is the CA that signed the server's certificate and that the certificate "
                "names the host of server_uri (validate_certs=false skips the check, for tests only)."
                % (server_uri, describe(error), " with ca_file %s" % ca_file if ca_file else " with the system's CAs (ca_file is not set)"))
    try:
        conn.simple_bind_s(bind_dn, bind_pw)
    except ldap.INVALID_CREDENTIALS:
        raise LdapClientError("the LDAP server %s refused the bind as %r: invalid credentials (wrong bind_pw, or no such bind_dn)"
                              % (server_uri, bind_dn))
    except ldap.CONFIDENTIALITY_REQUIRED:
        raise LdapClientError("the LDAP server %s requires TLS: set start_tls=true (or use ldaps://)" % server_uri)
    except ldap.SERVER_DOWN as error:
        if scheme == "ldaps":
            raise LdapClientError(
                "cannot connect to %s over TLS (%s): the server is down or its certificate could not be verified; check "
                "ca_file and that the certificate names the host" % (server_uri, describe(error)))
        raise LdapClientError(_server_down(server_uri, error))
    except ldap.LDAPError as error:
        raise LdapClientError("the bind as %r on %s failed: %s" % (bind_dn, server_uri, describe(error)))
    return conn


def _server_down(server_uri, error):
    return ("cannot reach the LDAP server at %s (%s): is it running, and are the host and port of server_uri right?"
            % (server_uri, describe(error)))


def search(conn, base, scope, filterstr="(objectClass=*)", attrlist=None, missing_ok=False):
    """[(dn, {attribute: [bytes]})] of a search, without referrals; a missing base is [] when missing_ok."""
    try:
        results = conn.search_ext_s(base, scope, filterstr, attrlist)
    except ldap.NO_SUCH_OBJECT:
        if missing_ok:
            return []
        raise LdapClientError("%s does not exist in the directory: check the base DN and the organizational units" % base)
    except ldap.SERVER_DOWN as error:
        raise LdapClientError("the LDAP server went away while searching %s: %s" % (base, describe(error)))
    except ldap.LDAPError as error:
        raise LdapClientError("search of %s with %s failed: %s" % (base, filterstr, describe(error)))
    return [(dn, attrs) for dn, attrs in results if dn is not None]


class Writer:
    """Adds, modifies and deletes sent over one connection without waiting for each result.

    Up to `window` operations are in flight; flush() waits for all of them and returns the
    [(label, message)] of those that failed (label: what the caller passed with the operation).
    """

    def __init__(self, conn, window=64, timeout=60):
        self.conn = conn
        self.window = window
        self.timeout = timeout
        self.pending = collections.deque()
        self.errors = []
        self.done = []

    def add(self, dn, modlist, label=None):
        self._send(lambda: self.conn.add_ext(dn, modlist), "add", dn, label)

    def modify(self, dn, modlist, label=None):
        self._send(lambda: self.conn.modify_ext(dn, modlist), "modify", dn, label)

    def delete(self, dn, label=None):
        self._send(lambda: self.conn.delete_ext(dn), "delete", dn, label)

    def _send(self, operation, kind, dn, label):
        while len(self.pending) >= self.window:
            self._receive()
        try:
            msgid = operation()
        except ldap.LDAPError as error:
            self.errors.append((label or dn, "%s of %s failed: %s" % (kind, dn, describe(error))))
            return
        self.pending.append((msgid, kind, dn, label or dn))

    def _receive(self):
        msgid, kind, dn, label = self.pending.popleft()
        try:
            self.conn.result3(msgid, all=1, timeout=self.timeout)
        except ldap.LDAPError as error:
            self.errors.append((label, "%s of %s failed: %s" % (kind, dn, describe(error))))
        else:
            self.done.append(label)

    def flush(self):
        while self.pending:
            self._receive()
        errors, self.errors = self.errors, []
        return errors
