"""Command-line misuse the CLI tests (tests/lab/test_cli.py) do not already
cover: each mistake is found before probing, exits 2, names the problem, and
never prints a traceback or hangs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

NETCHECK = str(Path(sys.executable).parent / "netcheck")
CATALOG = str(Path(__file__).parents[1] / "catalog" / "lab-example.yaml")


def netcheck(*args: str, prefix: tuple[str, ...] = (), timeout: float = 20,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, NETCHECK, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, check=False,
                          env={**os.environ, "NO_COLOR": "1"})


def run_with(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    # The lab example catalogue: every case fails before anything is probed.
    return netcheck("run", "--catalog", CATALOG, "-q", *args, **kwargs)  # type: ignore[arg-type]


def assert_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1], result.stderr
    assert result.stdout == ""  # nothing was probed, nothing summarised


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad-input")
    key_only = d / "key-only.pem"
    key_only.write_bytes(trustme.CA().issue_cert("x.lab.netcheck.test").private_key_pem.bytes())
    garbage = d / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                        b"-----END CERTIFICATE-----\n\x00\xff")
    a_file = d / "a-file"
    a_file.write_text("")
    return {"dir": d, "key-only": key_only, "garbage": garbage, "a-file": a_file}


# -- formats, resolvers, proxies: argparse types and the proxy parser ---------

@pytest.mark.parametrize(("args", "message"), [
    (["--format", "json,,pdf"], "unknown format 'pdf'"),
    (["--format", ","], "no format given"),
    (["--format", "console,xml"], "unknown format 'xml'"),
    (["--resolver", "[::1"], "missing ']' after the IPv6 address"),
    (["--resolver", "[::1]53"], "expected [IPv6]:PORT"),
    (["--resolver", "127.0.0.1:0"], "'0' is not a port (1-65535)"),
    (["--resolver", "localhost"], "'localhost' is not a resolver address"),
    (["--resolver", "999.1.1.1"], "'999.1.1.1' is not a resolver address"),
    (["--proxy", "ftp://proxy.lab.netcheck.test:21"], "unsupported proxy scheme 'ftp'"),
    (["--proxy", "http://"], "no proxy host"),
    (["--proxy", "http://proxy.lab.netcheck.test:port"], "the port is not a number"),
    (["--proxy", "socks5://proxy.lab.netcheck.test:1080"], "SOCKS proxies are not supported"),
])
def test_bad_option_values_exit_2_naming_the_problem(args: list[str], message: str) -> None:
    # Given a malformed option value
    # When netcheck run parses it
    result = run_with(*args)
    # Then it exits 2, the last line names the problem, and nothing is probed
    assert_usage_error(result, message)


def test_argparse_errors_are_one_line() -> None:
    result = run_with("--resolver", "localhost")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- --ca-bundle that cannot be used ---------------------------------------------

@pytest.mark.parametrize(("name", "message"), [
    ("dir", "not a"),  # "not a PEM certificate bundle (... Is a directory)" or "not a regular file"
    ("garbage", "not a PEM certificate bundle"),
    ("key-only", "not a PEM certificate bundle"),
])
def test_unusable_ca_bundle_is_one_line_exit_2(files: dict[str, Path], name: str,
                                               message: str) -> None:
    # Given a --ca-bundle that is a folder, garbage, or a private key without a certificate
    path = files[name]
    # When netcheck run checks it before probing
    result = run_with("--ca-bundle", str(path))
    # Then one line names the file and the problem, exit 2
    assert_usage_error(result, f"--ca-bundle {path}: {message}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_permission_denied_ca_bundle_is_one_line_exit_2(files: dict[str, Path]) -> None:
    # Given a bundle its reader may not open. Tests run as root, for whom
    # mode 000 denies nothing; so the run gets a root without the two
    # capabilities that override file permissions (setpriv drops them from
    # the bounding set), for which mode 000 does deny
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop CAP_DAC_OVERRIDE")
    secret = files["dir"] / "secret.pem"
    secret.write_bytes(trustme.CA().cert_pem.bytes())
    secret.chmod(0)
    drop = "-dac_override,-dac_read_search"
    prefix = (setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}") if os.geteuid() == 0 \
        else ()
    # When netcheck run checks it
    result = run_with("--ca-bundle", str(secret), prefix=prefix)
    # Then it is one line saying permission denied
    assert_usage_error(result, f"--ca-bundle {secret}: permission denied")
    assert len(result.stderr.strip().splitlines()) == 1


def test_ca_bundle_that_is_a_fifo_does_not_hang(files: dict[str, Path]) -> None:
    # Given a --ca-bundle that is a named pipe nobody writes to
    fifo = files["dir"] / "bundle.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    # When netcheck run checks it, Then it exits 2 at once instead of waiting
    result = run_with("--ca-bundle", str(fifo), timeout=2)
    assert_usage_error(result, f"--ca-bundle {fifo}: ")


def test_catalogue_that_is_a_fifo_does_not_hang(files: dict[str, Path]) -> None:
    fifo = files["dir"] / "catalog.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    result = netcheck("validate", str(fifo), timeout=2)
    assert result.returncode == 2
    assert f"{fifo}: file: " in result.stderr


def test_saved_report_that_is_a_fifo_does_not_hang(files: dict[str, Path]) -> None:
    # Given a FIFO nobody writes to, named as a saved report
    fifo = files["dir"] / "report.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    # When report and diff read it / Then each says so at once, exit 2
    for args in (("report", str(fifo), "--format", "json"), ("diff", str(fifo), str(fifo))):
        result = netcheck(*args, timeout=5)
        assert result.returncode == 2, result.stderr
        assert "not a regular file" in result.stderr
        assert "Traceback" not in result.stderr


# -- output destinations -----------------------------------------------------------

def test_output_dir_that_is_a_file_is_one_line_exit_2(files: dict[str, Path]) -> None:
    # Given --output-dir naming an existing file
    # When netcheck run checks the folder before probing
    result = run_with("--format", "json", "--output-dir", str(files["a-file"]))
    # Then one line names the folder, exit 2
    assert_usage_error(result, f"cannot write to output folder {files['a-file']}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_output_into_a_missing_folder_is_one_line_exit_2(files: dict[str, Path]) -> None:
    target = files["a-file"] / "report.json"
    result = run_with("--format", "json", "--output", str(target))
    assert_usage_error(result, f"cannot write report to {target}: folder ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_output_that_is_a_folder_is_one_line_exit_2(files: dict[str, Path]) -> None:
    result = run_with("--format", "json", "--output", str(files["dir"]))
    assert_usage_error(result, f"cannot write report to {files['dir']}: it is a folder")
