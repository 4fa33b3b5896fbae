"""TLS and SASL/SCRAM for the local broker, switched on by the client settings alone.

With ``BLUETRACK_KAFKA_SECURITY_PROTOCOL=SASL_SSL`` (or ``SSL`` / ``SASL_PLAINTEXT``) the
local broker gets exactly the listener every client is configured for, so the settings that
make the clients speak TLS and SCRAM also make the broker demand them:

* **TLS**: a loopback CA is made once under ``<home>/kafka/tls`` (openssl if present, the
  JDK's keytool otherwise); its certificate is written to ``BLUETRACK_KAFKA_SSL_CA_LOCATION``
  (what librdkafka and Spark's Kafka source trust). The broker's key and a certificate for
  ``127.0.0.1`` / ``localhost`` signed by that CA go into a PKCS#12 keystore. The KRaft
  controller listener uses TLS too, with client certificates required, so no plaintext port
  is left open.
* **SASL/SCRAM**: the client user (``BLUETRACK_KAFKA_SASL_USERNAME`` / ``_PASSWORD``) and the
  broker's own inter-broker user are written into the metadata log by ``StorageTool format
  --add-scram``, once, when the storage is formatted. The arguments go through a java
  argument file (mode 0600, deleted afterwards), so no password reaches the part's log or
  ``ps``.

Generated secrets (keystore and broker passwords) live in ``<home>/kafka/tls/secrets.json``
(mode 0600). Nothing here runs for an external cluster (``KAFKA_BOOTSTRAP_SERVERS`` set).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bluetrack.config import Settings
from bluetrack.stack.exceptions import MissingBinary, StackError

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
SCRAM_MECHANISMS = frozenset({"SCRAM-SHA-256", "SCRAM-SHA-512"})
BROKER_USER = "bluetrack-broker"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
HOSTS_SAN = "IP:127.0.0.1,DNS:localhost"
CA_DAYS = 3650
CERT_DAYS = 825
TOOL_TIMEOUT_S = 120.0
# Kafka's --add-scram parser splits on commas whatever the quoting, and quotes, backslashes and
# line breaks would need escaping in JAAS and java argument files too: such passwords are
# refused with a message saying why, not mangled.
_UNSAFE_PASSWORD_CHARS = frozenset('",\\\n\r')
_UNSAFE_NAME_CHARS = _UNSAFE_PASSWORD_CHARS | frozenset(" =[]")
SCRAM_MARKER = "scram-users"  # in the data dir: the SCRAM users the storage was formatted with


@dataclass(frozen=True, slots=True)
class Secrets:
    """Passwords the local broker needs and nobody else: made once, kept in the tls dir."""

    keystore_password: str
    broker_password: str


def enabled(settings: Settings) -> bool:
    """The local broker must speak something other than PLAINTEXT."""
    return settings.local_kafka and settings.kafka_security_protocol != "PLAINTEXT"


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in TLS_PROTOCOLS


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in SASL_PROTOCOLS


def tls_dir(settings: Settings) -> Path:
    return settings.home / "kafka" / "tls"


def check(settings: Settings) -> None:
    """Refuse, in one line naming the setting, a security configuration we cannot serve."""
    if uses_tls(settings) and not settings.kafka_ssl_ca_location:
        raise StackError(
            f"{settings.kafka_security_protocol} needs BLUETRACK_KAFKA_SSL_CA_LOCATION: the file "
            "where the local broker's CA certificate is written for clients to trust"
        )
    if not uses_sasl(settings):
        return
    if settings.kafka_sasl_mechanism not in SCRAM_MECHANISMS:
        raise StackError(
            f"the local broker supports SASL only with SCRAM: set BLUETRACK_KAFKA_SASL_MECHANISM "
            f"to one of {', '.join(sorted(SCRAM_MECHANISMS))} "
            f"(not {settings.kafka_sasl_mechanism!r})"
        )
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        raise StackError(
            "SASL needs BLUETRACK_KAFKA_SASL_USERNAME and BLUETRACK_KAFKA_SASL_PASSWORD: the "
            "local broker creates that user when it formats its storage"
        )
    if settings.kafka_sasl_username == BROKER_USER:
        raise StackError(f"the SASL user name {BROKER_USER!r} is the broker's own: pick another")
    if set(settings.kafka_sasl_username) & _UNSAFE_NAME_CHARS:
        raise StackError(
            "BLUETRACK_KAFKA_SASL_USERNAME must be free of quotes, commas, backslashes, line "
            "breaks, spaces, '=', '[' and ']'"
        )
    password = settings.kafka_sasl_password.get_secret_value()
    if not password or set(password) & _UNSAFE_PASSWORD_CHARS:
        raise StackError(
            "BLUETRACK_KAFKA_SASL_PASSWORD must be non-empty and free of quotes, commas, "
            "backslashes and line breaks"
        )


# --- secrets and key material --------------------------------------------------------------
def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created so from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def load_secrets(settings: Settings) -> Secrets:
    """The broker's passwords, made on first use."""
    path = _private_dir(tls_dir(settings)) / "secrets.json"
    if path.exists():
        data = json.loads(path.read_text())
        return Secrets(data["keystore_password"], data["broker_password"])
    made = Secrets(secrets.token_hex(24), secrets.token_hex(24))
    write_private(
        path,
        json.dumps(
            {"keystore_password": made.keystore_password, "broker_password": made.broker_password}
        ),
    )
    return made


def ca_pem(settings: Settings) -> Path:
    return tls_dir(settings) / "ca.pem"


def keystore(settings: Settings) -> Path:
    return tls_dir(settings) / "broker.p12"


def _run(what: str, *argv: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise StackError(f"{what} failed: {detail[-1] if detail else f'exit {done.returncode}'}")


def _make_with_openssl(openssl: str, folder: Path, password: str) -> None:
    """CA key + certificate, broker key + certificate signed by it, the PKCS#12 keystore."""
    ca_key, ca_cert = str(folder / "ca.key"), str(folder / "ca.pem")
    key, csr, cert = (
        str(folder / "broker.key"),
        str(folder / "broker.csr"),
        str(folder / "broker.pem"),
    )
    ext = folder / "broker.ext"
    ext.write_text(
        f"subjectAltName={HOSTS_SAN}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    rsa = ("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    _run("openssl: the CA key", openssl, *rsa, "-out", ca_key)
    _run(
        "openssl: the CA certificate",
        *(openssl, "req", "-x509", "-new", "-key", ca_key, "-sha256", "-days", str(CA_DAYS)),
        *("-subj", "/CN=BlueTrack local CA", "-out", ca_cert),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    _run("openssl: the broker key", openssl, *rsa, "-out", key)
    _run(
        "openssl: the broker certificate request",
        *(openssl, "req", "-new", "-key", key, "-subj", "/CN=127.0.0.1", "-out", csr),
    )
    _run(
        "openssl: signing the broker certificate",
        *(openssl, "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-sha256"),
        *("-CAcreateserial", "-days", str(CERT_DAYS), "-extfile", str(ext), "-out", cert),
    )
    _run(
        "openssl: the broker keystore",
        *(openssl, "pkcs12", "-export", "-inkey", key, "-in", cert, "-certfile", ca_cert),
        *("-name", "broker", "-out", str(folder / "broker.p12"), "-passout", "stdin"),
        stdin=password + "\n",
    )


def _make_with_keytool(keytool: str, folder: Path, password: str) -> None:
    """The same material with the JDK's keytool alone (slower: one JVM per step)."""
    ca_store, store = str(folder / "ca.p12"), str(folder / "broker.p12")
    ca_cert, csr, cert = (
        str(folder / "ca.pem"),
        str(folder / "broker.csr"),
        str(folder / "broker.pem"),
    )
    passwords = ("-storetype", "PKCS12", "-storepass", password, "-keypass", password)
    rsa = ("-keyalg", "RSA", "-keysize", "2048")
    san = HOSTS_SAN.replace("IP:", "ip:").replace("DNS:", "dns:")
    _run(
        "keytool: the CA",
        *(keytool, "-genkeypair", "-alias", "ca", *rsa, "-dname", "CN=BlueTrack local CA"),
        *("-validity", str(CA_DAYS), "-ext", "bc:c", "-ext", "ku:c=keyCertSign,cRLSign"),
        *("-keystore", ca_store, *passwords),
    )
    _run(
        "keytool: exporting the CA certificate",
        *(keytool, "-exportcert", "-rfc", "-alias", "ca", "-keystore", ca_store),
        *("-storepass", password, "-file", ca_cert),
    )
    _run(
        "keytool: the broker key",
        *(keytool, "-genkeypair", "-alias", "broker", *rsa, "-dname", "CN=127.0.0.1"),
        *("-validity", str(CERT_DAYS), "-keystore", store, *passwords),
    )
    _run(
        "keytool: the broker certificate request",
        *(keytool, "-certreq", "-alias", "broker", "-keystore", store),
        *("-storepass", password, "-file", csr),
    )
    _run(
        "keytool: signing the broker certificate",
        *(keytool, "-gencert", "-alias", "ca", "-keystore", ca_store, "-storepass", password),
        *("-infile", csr, "-outfile", cert, "-rfc", "-validity", str(CERT_DAYS)),
        *("-ext", f"san={san}", "-ext", "ku:c=digitalSignature,keyEncipherment"),
        *("-ext", "eku=serverAuth,clientAuth"),
    )
    for alias, pem in (("ca", ca_cert), ("broker", cert)):
        _run(
            f"keytool: importing the {alias} certificate",
            *(keytool, "-importcert", "-noprompt", "-alias", alias, "-file", pem),
            *("-keystore", store, "-storepass", password),
        )


def ensure_key_material(settings: Settings) -> None:
    """The CA and the broker keystore under ``<home>/kafka/tls``, made once."""
    folder = _private_dir(tls_dir(settings))
    if ca_pem(settings).exists() and keystore(settings).exists():
        return
    password = load_secrets(settings).keystore_password
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        work = Path(scratch)
        openssl, keytool = shutil.which("openssl"), shutil.which("keytool")
        if openssl is not None:
            _make_with_openssl(openssl, work, password)
        elif keytool is not None:
            _make_with_keytool(keytool, work, password)
        else:
            raise MissingBinary("neither openssl nor keytool found: install a JDK >= 17")
        for name in ("ca.pem", "broker.p12"):
            (work / name).chmod(0o600 if name.endswith(".p12") else 0o644)
        # The keystore last: its presence says the material is complete.
        (work / "ca.pem").replace(ca_pem(settings))
        (work / "broker.p12").replace(keystore(settings))
        for leftover in ("ca.key", "ca.p12"):  # kept, so the CA could sign again
            if (work / leftover).exists():
                (work / leftover).replace(folder / leftover)


def publish_ca(settings: Settings) -> Path:
    """Write the CA certificate where the clients are told to find it.

    An existing file there is left alone if it is our CA and refused otherwise: overwriting
    some other CA a person keeps there would silently break their other clients.
    """
    assert settings.kafka_ssl_ca_location is not None
    target = Path(settings.kafka_ssl_ca_location).expanduser()
    ours = ca_pem(settings).read_text()
    if target.exists():
        if target.read_text() != ours:
            raise StackError(
                f"{target} (BLUETRACK_KAFKA_SSL_CA_LOCATION) holds another certificate than the "
                f"local broker's CA ({ca_pem(settings)}): remove it or point the setting elsewhere"
            )
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(ours)
    return target


def prepare(settings: Settings) -> None:
    """Everything the broker's listener needs on disk, before its config is written."""
    check(settings)
    load_secrets(settings)
    if uses_tls(settings):
        ensure_key_material(settings)
        publish_ca(settings)


# --- broker configuration ------------------------------------------------------------------
def listener_properties(settings: Settings, broker: str, controller: str) -> dict[str, str]:
    """server.properties lines replacing the PLAINTEXT listener with the configured one."""
    protocol = settings.kafka_security_protocol
    found = load_secrets(settings)
    controller_protocol = "SSL" if uses_tls(settings) else "PLAINTEXT"
    lines = {
        "listeners": f"{protocol}://{broker},CONTROLLER://{controller}",
        "advertised.listeners": f"{protocol}://{broker}",
        "inter.broker.listener.name": protocol,
        "listener.security.protocol.map": f"CONTROLLER:{controller_protocol},{protocol}:{protocol}",
    }
    if uses_tls(settings):
        lines.update(
            {
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.location": str(keystore(settings)),
                "ssl.keystore.password": found.keystore_password,
                "ssl.key.password": found.keystore_password,
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(ca_pem(settings)),
                # The controller port takes only the broker itself: a certificate from our CA.
                "listener.name.controller.ssl.client.auth": "required",
                "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
            }
        )
    if uses_sasl(settings):
        mechanism = str(settings.kafka_sasl_mechanism)
        listener = protocol.lower()
        lines.update(
            {
                "sasl.enabled.mechanisms": mechanism,
                "sasl.mechanism.inter.broker.protocol": mechanism,
                f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config": (
                    f'{SCRAM_MODULE} required username="{BROKER_USER}" '
                    f'password="{found.broker_password}";'
                ),
            }
        )
    return lines


def scram_users(settings: Settings) -> dict[str, str]:
    """User name -> password of every SCRAM user the storage is formatted with."""
    if not uses_sasl(settings):
        return {}
    assert settings.kafka_sasl_username is not None and settings.kafka_sasl_password is not None
    return {
        BROKER_USER: load_secrets(settings).broker_password,
        settings.kafka_sasl_username: settings.kafka_sasl_password.get_secret_value(),
    }


def scram_arguments(settings: Settings) -> list[str]:
    """``--add-scram`` arguments for ``StorageTool format`` (they hold passwords)."""
    mechanism = settings.kafka_sasl_mechanism
    return [
        argument
        for name, password in scram_users(settings).items()
        for argument in ("--add-scram", f'{mechanism}=[name={name},password="{password}"]')
    ]


def check_formatted_users(settings: Settings, data_dir: Path) -> None:
    """A storage formatted before SASL was on has no users: say so instead of failing later."""
    wanted = sorted(scram_users(settings))
    if not wanted:
        return
    marker = data_dir / SCRAM_MARKER
    have = marker.read_text().split() if marker.exists() else []
    missing = [name for name in wanted if name not in have]
    if missing:
        raise StackError(
            f"the Kafka storage in {data_dir} was formatted without the SCRAM user(s) "
            f"{', '.join(missing)}: users are only added when storage is formatted "
            "(`make clean` starts over, deleting the local data)"
        )


def record_formatted_users(settings: Settings, data_dir: Path) -> None:
    if scram_users(settings):
        (data_dir / SCRAM_MARKER).write_text("\n".join(sorted(scram_users(settings))) + "\n")


def _argfile_quote(argument: str) -> str:
    # java argument files: double quotes group, backslash escapes inside them.
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def secret_arguments(settings: Settings, arguments: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """``arguments`` (main class first) as a java ``@argfile`` when they hold secrets.

    The launcher reads the file (mode 0600) and it is deleted afterwards, so the passwords
    reach neither the part's log (which records the command line) nor the process list.
    """
    if not scram_users(settings):
        yield tuple(arguments)
        return
    folder = _private_dir(tls_dir(settings))
    path = folder / f"format-{secrets.token_hex(4)}.args"
    write_private(path, "\n".join(_argfile_quote(a) for a in arguments) + "\n")
    try:
        yield (f"@{path}",)
    finally:
        path.unlink(missing_ok=True)
