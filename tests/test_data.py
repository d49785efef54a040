"""minigrad.data: the bundled digits, train_test_split, DataLoader, IDX files, load_mnist and
load_fashion_mnist.

The download tests talk only to an HTTP server that this module starts on 127.0.0.1 (port 0),
serving small IDX files it generates; a server that is "down" is a closed port on 127.0.0.1.

The Fashion-MNIST tests read Debian's package dataset-fashion-mnist. They skip when it is missing
only if the environment variable CI is unset: .ci/run installs the package, so in CI they run.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

import minigrad
from minigrad import (
    DataLoader,
    Tensor,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    train_test_split,
)
from minigrad import data as data_module
from minigrad.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FOLDER,
    IDX_TYPES,
    MNIST_FILES,
    MNIST_MD5,
    ChecksumError,
    mnist_folder,
    parse_idx,
    read_idx,
)

ROOT = Path(__file__).resolve().parent.parent
ALL_MNIST_NAMES = [name for pair in MNIST_FILES.values() for name in pair]


# --- helpers -------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file holding `array` (written independently of the package's reader)."""
    codes = {np.dtype(dtype).newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    header = bytes([0, 0, codes[native], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(native.newbyteorder(">")).tobytes()


def mnist_like(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the range occur
    return images, rng.integers(0, 10, size=count, dtype=np.uint8)


def md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# --- load_digits ---------------------------------------------------------------------------------


def test_load_digits_shapes_dtypes_and_range():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.array_equal(np.unique(labels), np.arange(10))
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # every value is a count 0..16 divided by 16, exactly
    assert np.array_equal(images * 16, np.round(images * 16))


def test_load_digits_matches_the_raw_file():
    raw = gzip.decompress((ROOT / "minigrad" / "datasets" / "digits.csv.gz").read_bytes())
    first = [int(value) for value in raw.decode("ascii").splitlines()[0].split(",")]
    images, labels = load_digits()
    assert np.array_equal(images[0].ravel() * 16, first[:64]) and labels[0] == first[64]


def test_load_digits_returns_fresh_arrays():
    images, labels = load_digits()
    images[:] = -1
    labels[:] = -1
    again, again_labels = load_digits()
    assert again.min() == 0.0 and again_labels.min() == 0


def test_digits_file_ships_with_attribution():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))
    assert "datasets/*" in config["tool"]["setuptools"]["package-data"]["minigrad"]
    readme = (ROOT / "minigrad" / "datasets" / "README.md").read_text(encoding="utf8")
    for needed in ("Alpaydin", "Kaynak", "CC BY 4.0", "archive.ics.uci.edu", "Column 65"):
        assert needed in readme


def test_chapter_shows_the_real_digits():
    """The text drawing in the chapter is what its code block prints from the data."""
    images, labels = load_digits()
    shades = " .:-=+*#%@"
    drawings = []
    for image in images[:5]:
        levels = np.minimum((image * len(shades)).astype(int), len(shades) - 1)
        drawings.append(["".join(2 * shades[level] for level in row) for row in levels])
    lines = ["   ".join(f"label {labels[i]}".ljust(16) for i in range(5))]
    lines += ["   ".join(rows) for rows in zip(*drawings)]
    drawing = "\n".join(line.rstrip() for line in lines)
    chapter = (ROOT / "docs" / "14-data.md").read_text(encoding="utf8")
    assert f"```text\n{drawing}\n```" in chapter


# --- train_test_split ----------------------------------------------------------------------------


@pytest.mark.parametrize("n, fraction", [(1797, 0.2), (10, 0.3), (7, 0.5), (2, 0.5), (100, 0.99)])
def test_split_is_a_partition_of_the_right_size(n, fraction):
    ids = np.arange(n)
    y = ids * 10
    ids_train, ids_test, y_train, y_test = train_test_split(ids, y, test_fraction=fraction, seed=3)
    assert len(ids_test) == len(y_test) == round(fraction * n)
    assert np.array_equal(np.sort(np.concatenate([ids_train, ids_test])), ids)
    assert np.array_equal(y_train, ids_train * 10) and np.array_equal(y_test, ids_test * 10)


def test_split_is_seeded():
    x, y = np.arange(50).reshape(25, 2), np.arange(25)
    first = train_test_split(x, y, seed=4)
    same = train_test_split(x, y, seed=4)
    other = train_test_split(x, y, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, same))
    assert not np.array_equal(first[1], other[1])
    assert not np.array_equal(first[1], x[-5:])  # shuffled, not the file's last rows
    assert len(train_test_split(x, y, seed=None)[1]) == 5


def test_split_keeps_dtypes_and_takes_tensors():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10, dtype=np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(Tensor(x), Tensor(y), seed=0)
    assert x_train.dtype == np.float32 and y_test.dtype == np.uint8
    assert x_train.shape == (8, 2) and x_test.shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"test_fraction": 0.0}, ValueError, "strictly between 0 and 1, got 0.0"),
        ({"test_fraction": 1}, ValueError, "strictly between 0 and 1, got 1"),
        ({"test_fraction": 1.5}, ValueError, "strictly between 0 and 1, got 1.5"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction must be a number .* got str"),
        ({"test_fraction": True}, TypeError, "got bool"),
        ({"test_fraction": 0.01}, ValueError, "test_fraction=0.01 of 10 examples leaves the test"),
        ({"test_fraction": 0.98}, ValueError, "leaves the training set empty"),
    ],
)
def test_split_rejects_bad_fractions(kwargs, error, message):
    with pytest.raises(error, match=message):
        train_test_split(np.zeros((10, 3)), np.zeros(10), **kwargs)


def test_split_rejects_mismatched_and_empty_data():
    shapes = r"x of shape \(5, 3\) \(5 examples\) and y of shape \(4,\) \(4 examples\)"
    with pytest.raises(ValueError, match="train_test_split: .*" + shapes):
        train_test_split(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="hold no examples"):
        train_test_split(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match="y must have a first axis that counts the examples"):
        train_test_split(np.zeros((5, 3)), np.float64(1.0))


# --- DataLoader ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, batch_size, drop_last, sizes",
    [
        (10, 3, False, [3, 3, 3, 1]),
        (10, 3, True, [3, 3, 3]),
        (9, 3, False, [3, 3, 3]),
        (9, 3, True, [3, 3, 3]),
        (5, 8, False, [5]),
        (5, 5, True, [5]),
        (1, 1, False, [1]),
    ],
)
def test_loader_batch_sizes_and_len(n, batch_size, drop_last, sizes):
    x, y = np.zeros((n, 2)), np.zeros(n, dtype=np.int64)
    loader = DataLoader(x, y, batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(xb) for xb, _ in loader] == sizes
    assert [len(yb) for _, yb in loader] == sizes  # and again: a loader is re-iterable


def epoch_orders(loader: DataLoader, y: np.ndarray, count: int) -> list[np.ndarray]:
    orders = []
    for _ in range(count):
        parts = []
        for ids, yb in loader:
            assert np.array_equal(yb.array, y[ids.array])
            parts.append(ids.array)
        orders.append(np.concatenate(parts))
    return orders


def test_loader_covers_every_example_once_per_epoch_in_a_new_order():
    n = 103
    ids, y = np.arange(n), np.random.default_rng(0).integers(0, 10, size=n)
    orders = epoch_orders(DataLoader(ids, y, 10, shuffle=True, seed=7), y, 4)
    for order in orders:
        assert np.array_equal(np.sort(order), ids)
    assert len({order.tobytes() for order in orders}) == 4
    again = epoch_orders(DataLoader(ids, y, 10, shuffle=True, seed=7), y, 4)
    assert all(np.array_equal(a, b) for a, b in zip(orders, again))
    other = epoch_orders(DataLoader(ids, y, 10, shuffle=True, seed=8), y, 1)
    assert not np.array_equal(orders[0], other[0])
    unseeded = epoch_orders(DataLoader(ids, y, 10, shuffle=True), y, 1)
    assert np.array_equal(np.sort(unseeded[0]), ids)
    assert np.array_equal(epoch_orders(DataLoader(ids, y, 10), y, 1)[0], ids)


def test_loader_drop_last_with_shuffle_drops_a_different_remainder():
    ids, y = np.arange(10), np.arange(10)
    loader = DataLoader(ids, y, 4, shuffle=True, seed=0, drop_last=True)
    served = [np.concatenate([xb.array for xb, _ in loader]) for _ in range(5)]
    assert all(len(order) == 8 and len(set(order)) == 8 for order in served)
    assert len({frozenset(order) for order in served}) > 1


def test_loader_batches_are_tensors_with_package_dtypes():
    x = np.random.default_rng(0).normal(size=(6, 4))  # float64
    loader = DataLoader(x, np.array([1, 0, 1, 1, 0, 0], dtype=np.uint8), 4)
    xb, yb = next(iter(loader))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    assert not xb.requires_grad and xb.recipe is None
    assert np.allclose(xb.array, x[:4])
    _, bool_labels = next(iter(DataLoader(x, x[:, 0] > 0, 6)))
    assert bool_labels.dtype == np.int64 and np.array_equal(bool_labels.array, x[:, 0] > 0)


def test_loader_batches_do_not_share_memory_with_the_data():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    loader = DataLoader(x, np.arange(6), 3)
    xb, _ = next(iter(loader))
    xb.array[:] = -1
    assert loader.x.min() == 0 and x.min() == 0


def test_loader_takes_tensors_and_lists():
    loader = DataLoader(Tensor(np.ones((4, 2), dtype=np.float32)), [0, 1, 2, 3], batch_size=2)
    assert [yb.array.tolist() for _, yb in loader] == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    "batch_size, error, message",
    [
        (0, ValueError, "batch_size must be a positive int, got 0"),
        (-2, ValueError, "batch_size must be a positive int, got -2"),
        (2.0, TypeError, "batch_size must be a positive int, got float"),
        ("4", TypeError, "got str"),
        (True, TypeError, "got bool"),
        (None, TypeError, "got NoneType"),
    ],
)
def test_loader_rejects_bad_batch_sizes(batch_size, error, message):
    with pytest.raises(error, match=message):
        DataLoader(np.zeros((4, 2)), np.zeros(4), batch_size)


def test_loader_accepts_numpy_integers():
    assert len(DataLoader(np.zeros((4, 2)), np.zeros(4), np.int64(3))) == 2


def test_loader_rejects_bad_data():
    shapes = r"x of shape \(4, 2\) \(4 examples\) and y of shape \(3,\) \(3 examples\)"
    with pytest.raises(ValueError, match="DataLoader: .*" + shapes):
        DataLoader(np.zeros((4, 2)), np.zeros(3), 2)
    with pytest.raises(ValueError, match="hold no examples"):
        DataLoader(np.zeros((0, 2)), np.zeros(0), 2)
    with pytest.raises(ValueError, match="only 4 examples gives no batch at all"):
        DataLoader(np.zeros((4, 2)), np.zeros(4), 5, drop_last=True)
    with pytest.raises(TypeError, match="y must hold numbers, got an array of dtype <U1"):
        DataLoader(np.zeros((2, 2)), np.array(["a", "b"]), 1)
    with pytest.raises(TypeError, match="x must hold numbers, got an array of dtype complex128"):
        DataLoader(np.zeros((2, 2), dtype=complex), np.zeros(2), 1)


def test_public_names():
    names = ("load_digits", "train_test_split", "DataLoader", "load_mnist", "load_fashion_mnist")
    for name in names:
        assert getattr(minigrad, name) is getattr(data_module, name)


# --- IDX -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-128, -1, 0, 127], dtype=np.int8),
        np.array([[-30000, 2], [3, 30000]], dtype=np.int16),
        np.arange(-5, 5, dtype=np.int32).reshape(1, 2, 1, 5),
        np.array([1.5, -2.25, 3e30], dtype=np.float32),
        np.array([[np.pi, -np.e]], dtype=np.float64),
        np.zeros((0, 28, 28), dtype=np.uint8),
    ],
    ids=lambda array: f"{array.dtype}{array.shape}",
)
def test_idx_round_trip(array, tmp_path):
    data = idx_bytes(array)
    for parsed in (parse_idx(data), read_idx(_write(tmp_path / "a.idx", data)),
                   read_idx(_write(tmp_path / "a.idx.gz", gzip.compress(data)))):
        assert parsed.dtype == array.dtype and parsed.dtype.isnative
        assert parsed.shape == array.shape and np.array_equal(parsed, array)
        assert parsed.flags.writeable


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_idx_header_is_big_endian():
    data = idx_bytes(np.zeros((60000, 28, 28), dtype=np.uint8)[:1])
    assert data[:16].hex() == "00000803" "00000001" "0000001c" "0000001c"


@pytest.mark.parametrize(
    "data, message",
    [
        (
            b"<!DOCTYPE html><html>Bad gateway</html>",
            r"not an IDX file: it starts with bytes 3c 21 44 4f \(b'<!DO'\)",
        ),
        (bytes([0, 1, 8, 1, 0, 0, 0, 1, 5]), "not an IDX file: it starts with bytes 00 01 08 01"),
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]), "it starts with bytes 00 00 0a 01 .* a type code"),
        (b"\x00\x00", r"starts with bytes 00 00 \(b'\\x00\\x00'\)"),
        (b"", r"starts with bytes \(none\)"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "announces 3 dimensions, but the data ends after 8"),
        (
            idx_bytes(np.zeros((2, 3), np.uint8))[:-1],
            r"shape \(2, 3\) and type uint8, 18 bytes with the header, but there are 17",
        ),
        (
            idx_bytes(np.zeros(2, np.int32)) + b"\x00",
            r"shape \(2,\) and type int32, 16 bytes .* but there are 17",
        ),
    ],
)
def test_idx_errors_say_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(data, name="some.idx")


def test_read_idx_reports_a_damaged_gzip_file(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))
    for name, content in [("cut.gz", good[: len(good) // 2]), ("html.gz", b"<html>oops</html>")]:
        path = _write(tmp_path / name, content)
        with pytest.raises(ValueError, match=re.escape(f"{path} is not a complete gzip file")):
            read_idx(path)
    path = _write(tmp_path / "plain.idx", b"<html>oops</html>")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not an IDX file"):
        read_idx(path)


# --- load_mnist: files in the cache --------------------------------------------------------------


def write_mnist(folder: Path, count: int = 5, seed: int = 0, train: bool = False):
    """Gzipped IDX files of `count` MNIST-like images in folder/mnist; returns (images, labels)."""
    images, labels = mnist_like(count, seed)
    image_name, label_name = MNIST_FILES["train" if train else "test"]
    (folder / "mnist").mkdir(parents=True, exist_ok=True)
    (folder / "mnist" / image_name).write_bytes(gzip.compress(idx_bytes(images)))
    (folder / "mnist" / label_name).write_bytes(gzip.compress(idx_bytes(labels)))
    return images, labels


@pytest.mark.parametrize("train", [True, False])
def test_load_mnist_reads_the_cache(tmp_path, train):
    images, labels = write_mnist(tmp_path, count=7, seed=int(train), train=train)
    got_images, got_labels = load_mnist(root=tmp_path, train=train, download=False)
    assert got_images.dtype == np.float32 and got_images.shape == (7, 28, 28)
    assert got_images.min() == 0.0 and got_images.max() == 1.0
    assert np.allclose(got_images * 255, images, atol=1e-4)
    assert got_labels.dtype == np.int64 and np.array_equal(got_labels, labels)


def test_mnist_folder_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "from-env"))
    assert mnist_folder() == tmp_path / "from-env" / "mnist"
    assert mnist_folder(tmp_path / "arg") == tmp_path / "arg" / "mnist"  # root wins
    monkeypatch.setenv("MINIGRAD_DATA", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    assert mnist_folder() == tmp_path / "home" / ".cache" / "minigrad" / "mnist"
    monkeypatch.delenv("MINIGRAD_DATA")
    assert mnist_folder() == tmp_path / "home" / ".cache" / "minigrad" / "mnist"


def test_load_mnist_without_files_and_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        load_mnist(root=tmp_path, train=True, download=False)
    message = str(caught.value)
    folder = str(tmp_path / "mnist")
    missing = "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz"
    assert f"{missing} not found in {folder}" in message
    assert all(name in message for name in ALL_MNIST_NAMES)
    assert "MINIGRAD_DATA" in message and "download=True" in message
    assert not (tmp_path / "mnist").exists()  # nothing created


def test_load_mnist_names_only_the_missing_file(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"False\): t10k-labels-idx1-ubyte.gz not found"):
        load_mnist(root=tmp_path, train=False, download=False)


def test_load_mnist_checks_what_the_files_hold(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(tmp_path, count=4)
    labels_path = folder / "t10k-labels-idx1-ubyte.gz"
    labels_path.write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(ValueError, match=r"expected 4 unsigned-byte labels, one per .* \(3,\)"):
        load_mnist(root=tmp_path, train=False, download=False)
    images_path = folder / "t10k-images-idx3-ubyte.gz"
    images_path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 784), np.uint8))))
    expected = r"expected unsigned-byte images of shape \(N, rows, columns\), got uint8 of shape"
    with pytest.raises(ValueError, match=expected + r" \(4, 784\)"):
        load_mnist(root=tmp_path, train=False, download=False)


def test_mnist_constants():
    assert MNIST_MD5 == {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    assert data_module.MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert issubclass(ChecksumError, OSError)


# --- load_mnist: downloading from a loopback server ----------------------------------------------


class LoopbackServer:
    """An HTTP server on 127.0.0.1 serving `files` (name -> bytes), recording requested names."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()  # names sent with a full Content-Length but half the body
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                content = server.files.get(name)
                if content is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if name in server.truncate:
                    self.wfile.write(content[: len(content) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(content)

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def serve(self, train: bool = False, count: int = 5, seed: int = 0):
        """Serve MNIST-like files for one split; return (images, labels, their MD5 table)."""
        images, labels = mnist_like(count, seed)
        image_name, label_name = MNIST_FILES["train" if train else "test"]
        self.files[image_name] = gzip.compress(idx_bytes(images))
        self.files[label_name] = gzip.compress(idx_bytes(labels))
        return images, labels, {name: md5(content) for name, content in self.files.items()}


@pytest.fixture
def no_proxy(monkeypatch):
    """urllib must connect to 127.0.0.1 itself, never through a proxy from the environment."""
    for variable in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(variable.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def server(no_proxy):
    loopback = LoopbackServer()
    loopback.thread.start()
    try:
        yield loopback
    finally:
        loopback.httpd.shutdown()
        loopback.httpd.server_close()
        loopback.thread.join(timeout=5)
        assert not loopback.thread.is_alive()


def fetch(root: Path, base_url, checksums, train: bool = False):
    """load_mnist from base_url into root, with a short timeout."""
    return load_mnist(root=root, train=train, base_url=base_url, checksums=checksums, timeout=5)


@pytest.fixture
def closed_port_url(no_proxy):
    """The URL of a port on 127.0.0.1 that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.mark.parametrize("train", [False, True])
def test_download_verifies_and_stores_the_files(server, tmp_path, train):
    images, labels, checksums = server.serve(train=train, count=6, seed=3)
    got_images, got_labels = fetch(tmp_path, server.base_url, checksums, train=train)
    names = list(MNIST_FILES["train" if train else "test"])
    assert sorted(server.requests) == sorted(names)
    assert np.allclose(got_images * 255, images, atol=1e-4) and got_images.dtype == np.float32
    assert np.array_equal(got_labels, labels) and got_labels.dtype == np.int64
    assert leftovers(tmp_path / "mnist") == sorted(names)  # no temporary files
    for name in names:
        assert (tmp_path / "mnist" / name).read_bytes() == server.files[name]

    # Cached now: another call with download=True asks the server for nothing.
    again, _ = fetch(tmp_path, server.base_url, checksums, train=train)
    assert len(server.requests) == 2 and np.array_equal(again, got_images)


def test_download_only_fetches_missing_files(server, tmp_path):
    _, _, checksums = server.serve()
    fetch(tmp_path, server.base_url, checksums)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    fetch(tmp_path, server.base_url, checksums)
    assert server.requests[2:] == ["t10k-labels-idx1-ubyte.gz"]


def test_download_honours_minigrad_data(server, tmp_path, monkeypatch):
    images, _, checksums = server.serve(count=3)
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "data-root"))
    got, _ = load_mnist(train=False, base_url=server.base_url, checksums=checksums, timeout=5)
    assert np.allclose(got * 255, images, atol=1e-4)
    assert leftovers(tmp_path / "data-root" / "mnist") == sorted(MNIST_FILES["test"])
    # and reading back uses it too
    assert np.array_equal(load_mnist(train=False, download=False)[0], got)


def test_checksum_mismatch_raises_and_stores_nothing(server, tmp_path):
    _, _, checksums = server.serve()
    actual = checksums["t10k-images-idx3-ubyte.gz"]
    wrong = dict(checksums, **{"t10k-images-idx3-ubyte.gz": "0123456789abcdef0123456789abcdef"})
    with pytest.raises(ChecksumError) as caught:
        fetch(tmp_path, server.base_url, wrong)
    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    assert message.startswith("t10k-images-idx3-ubyte.gz downloaded from " + server.base_url)
    assert f"has MD5 checksum {actual}, expected 0123456789abcdef0123456789abcdef" in message
    assert "Nothing was saved" in message
    assert leftovers(tmp_path / "mnist") == []  # neither the final name nor a temporary file


def test_checksums_may_be_upper_case(server, tmp_path):
    _, _, checksums = server.serve()
    upper = {name: digest.upper() for name, digest in checksums.items()}
    fetch(tmp_path, server.base_url, upper)


def test_truncated_download_is_a_connection_error_and_stores_nothing(server, tmp_path):
    _, _, checksums = server.serve(count=50)
    server.truncate.add("t10k-images-idx3-ubyte.gz")
    with pytest.raises(ConnectionError, match=r"the connection closed after \d+ of \d+ bytes"):
        fetch(tmp_path, server.base_url, checksums)
    assert leftovers(tmp_path / "mnist") == []


def test_server_down_gives_the_offline_instructions(closed_port_url, tmp_path):
    with pytest.raises(ConnectionError) as caught:
        fetch(tmp_path, closed_port_url, MNIST_MD5, train=True)
    message = str(caught.value)
    assert message.startswith("load_mnist could not download train-images-idx3-ubyte.gz:")
    assert closed_port_url + "train-images-idx3-ubyte.gz" in message
    assert all(name in message for name in ALL_MNIST_NAMES)
    assert f"in the folder {tmp_path / 'mnist'}" in message
    assert "MINIGRAD_DATA" in message and "load_mnist(download=False)" in message
    assert leftovers(tmp_path / "mnist") == []


def test_a_missing_file_on_the_server_is_reported(server, tmp_path):
    _, _, checksums = server.serve()
    del server.files["t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(ConnectionError, match=r"download t10k-labels-idx1-ubyte.gz:\n.*404"):
        fetch(tmp_path, server.base_url, checksums)
    # the images file came first and was fine: it stays, verified
    assert leftovers(tmp_path / "mnist") == ["t10k-images-idx3-ubyte.gz"]


def test_next_mirror_is_tried_when_one_is_down(server, closed_port_url, tmp_path):
    images, _, checksums = server.serve()
    got, _ = fetch(tmp_path, [closed_port_url, server.base_url], checksums)
    assert np.allclose(got * 255, images, atol=1e-4)


def test_a_disk_error_is_not_a_network_error_and_cleans_up(server, tmp_path, monkeypatch):
    _, _, checksums = server.serve()

    def failing_replace(source, target):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(data_module.os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        fetch(tmp_path, [server.base_url, server.base_url], checksums)
    assert server.requests == ["t10k-images-idx3-ubyte.gz"]  # not retried on the next mirror
    assert leftovers(tmp_path / "mnist") == []


def test_an_interrupted_download_cleans_up(server, tmp_path, monkeypatch):
    _, _, checksums = server.serve()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(tmp_path, server.base_url, checksums)
    assert leftovers(tmp_path / "mnist") == []


def test_download_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="base_url is an empty list"):
        load_mnist(root=tmp_path, base_url=[])
    with pytest.raises(ValueError, match="checksums has no entry for train-images-idx3-ubyte.gz"):
        load_mnist(root=tmp_path, base_url="http://127.0.0.1:1/", checksums={})


# --- load_fashion_mnist --------------------------------------------------------------------------


def test_load_fashion_mnist_reads_a_folder_given_as_root(tmp_path):
    """Debian's layout: the four files directly in the folder (not in a mnist/ subfolder)."""
    images, labels = mnist_like(4, seed=5)
    for name, array in zip(MNIST_FILES["train"], (images, labels)):
        (tmp_path / name).write_bytes(gzip.compress(idx_bytes(array)))
    got_images, got_labels = load_fashion_mnist(root=tmp_path)
    assert got_images.dtype == np.float32 and got_images.shape == (4, 28, 28)
    assert got_images.min() == 0.0 and got_images.max() == 1.0
    assert np.array_equal(np.rint(got_images * 255), images)
    assert got_labels.dtype == np.int64 and np.array_equal(got_labels, labels)
    assert np.array_equal(load_fashion_mnist(root=str(tmp_path), train=True)[1], labels)


def test_load_fashion_mnist_missing_files_say_where_and_how(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as caught:
        load_fashion_mnist(root=tmp_path, train=False)
    message = str(caught.value)
    assert "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz not found" in message
    assert f"in {tmp_path}." in message and "apt-get install dataset-fashion-mnist" in message
    # the default folder is read when root is not given, and named when it lacks the files
    monkeypatch.setattr(data_module, "FASHION_MNIST_FOLDER", tmp_path / "not-installed")
    missing = re.escape(f"found in {tmp_path / 'not-installed'}.")
    with pytest.raises(FileNotFoundError, match=missing):
        load_fashion_mnist()


def test_load_fashion_mnist_checks_what_the_files_hold(tmp_path):
    flat_images, labels = np.zeros((3, 784), np.uint8), np.zeros(3, np.uint8)  # images not 2-D
    for name, array in zip(MNIST_FILES["test"], (flat_images, labels)):
        (tmp_path / name).write_bytes(gzip.compress(idx_bytes(array)))
    with pytest.raises(ValueError, match=r"expected unsigned-byte images .* \(3, 784\)"):
        load_fashion_mnist(root=tmp_path, train=False)


FASHION_FILES = [FASHION_MNIST_FOLDER / name for pair in MNIST_FILES.values() for name in pair]
needs_fashion_mnist = pytest.mark.skipif(
    not all(path.is_file() for path in FASHION_FILES) and not os.environ.get("CI"),
    reason=f"Fashion-MNIST is not installed in {FASHION_MNIST_FOLDER} and CI is unset, so this may "
    "skip here (in CI it must run); install it with: apt-get install dataset-fashion-mnist",
)


@needs_fashion_mnist
@pytest.mark.parametrize("train, count", [(True, 60_000), (False, 10_000)], ids=["train", "test"])
def test_fashion_mnist_from_debian(train, count):
    names = MNIST_FILES["train" if train else "test"]
    image_file, label_file = (FASHION_MNIST_FOLDER / name for name in names)
    raw_images, raw_labels = read_idx(image_file), read_idx(label_file)  # the files as they are
    assert raw_images.dtype == np.uint8 and raw_images.shape == (count, 28, 28)
    assert raw_labels.dtype == np.uint8 and raw_labels.shape == (count,)
    images, labels = load_fashion_mnist(train=train)  # Debian's folder by default
    assert images.dtype == np.float32 and images.shape == (count, 28, 28)
    assert np.array_equal(np.rint(images * 255), raw_images)  # exactly the bytes, scaled to [0, 1]
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.dtype == np.int64 and np.array_equal(labels, raw_labels)
    assert np.array_equal(np.unique(labels), np.arange(10)) and len(FASHION_MNIST_CLASSES) == 10
    assert np.bincount(labels).tolist() == [count // 10] * 10  # balanced: a tenth per class
    assert labels[0] == FASHION_MNIST_CLASSES.index("Ankle boot")  # both files open with a boot
    # the same arrays when the folder is passed explicitly
    again_images, again_labels = load_fashion_mnist(root=FASHION_MNIST_FOLDER, train=train)
    assert np.array_equal(again_labels, labels) and np.array_equal(again_images[:100], images[:100])
