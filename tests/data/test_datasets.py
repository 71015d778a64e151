"""Dataset loaders: bundled tables and digits, MNIST/Fashion-MNIST from a folder and through the download path
(a local HTTP server on 127.0.0.1): success, corrupted file, interrupted transfer, no server."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.datasets import DownloadError, get_file
from tapeflow.datasets._idx_dataset import FILES

BUNDLED = {  # bundled file -> its path in the shared datasets folder
    "digits.csv.gz": "sklearn-digits/digits.csv.gz",
    "iris.csv": "iris/iris.csv",
    "mtcars.csv": "mtcars/mtcars.csv",
    "airline.csv": "airline-passengers/airline.csv",
    "sunspots.csv": "sunspots/sunspots.csv",
}
PACKAGE_DATA = Path(tp.datasets.__file__).parent / "data"


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def published_sums(data_dir):
    sums = {}
    for line in (data_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.removeprefix("./")] = digest
    return sums


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_files_match_the_published_checksums(name, data_dir):
    assert sha(PACKAGE_DATA / name) == published_sums(data_dir)[BUNDLED[name]]


def test_mnist_loader_checksums_match_the_published_ones(data_dir):
    sums = published_sums(data_dir)
    for module, folder in ((tp.datasets.mnist, "mnist"), (tp.datasets.fashion_mnist, "fashion-mnist")):
        assert module.SHA256 == {f: sums[f"{folder}/{f}"] for f in FILES}


def test_mtcars():
    cars = tp.datasets.mtcars.load_data()
    assert cars.data.shape == (32, 11) and cars.data.dtype == np.float32
    names = ["mpg", "cyl", "disp", "hp", "drat", "wt", "qsec", "vs", "am", "gear", "carb"]
    assert cars.feature_names == names
    assert cars.row_names[0] == "Mazda RX4" and cars.row_names[-1] == "Volvo 142E"
    assert len(cars.row_names) == 32
    np.testing.assert_allclose(cars.data[0], [21, 6, 160, 110, 3.9, 2.62, 16.46, 0, 1, 4, 4], rtol=1e-6)
    means = [20.091, 6.188, 230.722, 146.688, 3.597, 3.217, 17.849, 0.438, 0.406, 3.688, 2.812]
    np.testing.assert_allclose(cars.data.mean(axis=0), means, atol=1e-3)  # R's colMeans(mtcars)
    pytest.importorskip("pandas")
    assert cars.frame.shape == (32, 11) and cars.frame.loc["Mazda RX4", "wt"] == 2.62
    assert str(cars.frame["cyl"].dtype) == "int64"


def test_iris():
    iris = tp.datasets.iris.load_data()
    assert iris.data.shape == (150, 4) and iris.data.dtype == np.float32
    assert np.bincount(iris.target).tolist() == [50, 50, 50]
    assert iris.target_names == ["setosa", "versicolor", "virginica"] and iris.row_names[-1] == "150"
    np.testing.assert_allclose(iris.data[0], [5.1, 3.5, 1.4, 0.2], rtol=1e-6)
    sklearn = pytest.importorskip("sklearn.datasets")
    np.testing.assert_allclose(iris.data, sklearn.load_iris().data, rtol=1e-6)


def test_airline_and_sunspots():
    air = tp.datasets.airline_passengers.load_data()
    assert air.data.shape == (144, 1) and air.data.min() == 104 and air.data.max() == 622
    assert air.row_names[0] == "1949-01" and air.row_names[-1] == "1960-12" and air.data[-1, 0] == 432
    sun = tp.datasets.sunspots.load_data()
    assert sun.data.shape == (309, 1) and sun.years.tolist() == list(range(1700, 2009))
    assert sun.data[-1, 0] == np.float32(2.9) and sun.data.max() == np.float32(190.2)
    pd = pytest.importorskip("pandas")
    assert isinstance(air.frame.index, pd.PeriodIndex) and air.frame["passengers"].iloc[0] == 112
    assert sun.frame.index.name == "year"


def test_bunch_attribute_errors_list_the_keys():
    with pytest.raises(AttributeError, match="has no 'target'.*'data'"):
        tp.datasets.mtcars.load_data().target
    assert "data=<array shape=(32, 11) dtype=float32>" in repr(tp.datasets.mtcars.load_data())


def test_digits_split_is_stratified_and_complete():
    (x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
    assert x_train.shape == (1347, 8, 8) and x_test.shape == (450, 8, 8) and x_train.dtype == np.uint8
    counts = np.bincount(np.concatenate([y_train, y_test]))
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    np.testing.assert_array_less(np.abs(np.bincount(y_test) - counts * 0.25), 1.0 + 1e-9)
    assert x_train.max() == 16 and x_train.min() == 0
    again = tp.datasets.digits.load_data()
    np.testing.assert_array_equal(again[1][1], y_test)
    sklearn = pytest.importorskip("sklearn.datasets")
    ref = sklearn.load_digits()
    all_x = np.concatenate([x_train, x_test]).reshape(-1, 64).astype(np.float64)
    assert sorted(map(bytes, all_x.astype(np.uint8))) == sorted(map(bytes, ref.data.astype(np.uint8)))


MNIST_FACTS = {
    "mnist": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
    "fashion-mnist": ([6000] * 10, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]),
}


@pytest.mark.parametrize("folder", ["mnist", "fashion-mnist"])
def test_mnist_like_from_the_data_dir(folder, data_dir, monkeypatch, tmp_path):
    module = tp.datasets.mnist if folder == "mnist" else tp.datasets.fashion_mnist
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("TAPEFLOW_DATA_DIR", str(data_dir))
    (x_train, y_train), (x_test, y_test) = module.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8 and y_test.shape == (10000,)
    counts, first = MNIST_FACTS[folder]
    assert np.bincount(y_train).tolist() == counts and y_train[:10].tolist() == first
    assert not (tmp_path / "empty-cache").exists()  # a local folder is read in place, nothing copied
    monkeypatch.delenv("TAPEFLOW_DATA_DIR")
    (_, y2), _ = module.load_data(path=data_dir / folder)
    np.testing.assert_array_equal(y2, y_train)


def test_path_folder_missing_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks train-images-idx3-ubyte.gz"):
        tp.datasets.mnist.load_data(path=tmp_path)


# --- the download path, against a local server --------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate = False

    def log_message(self, *args):
        pass

    def copyfile(self, source, outputfile):
        if self.truncate:  # announce the full length, send half, hang up
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        shutil.copyfileobj(source, outputfile)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = type("Handler", (_Handler,), {})

    def make(*args, **kwargs):
        return handler(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def cache_files(cache):
    return sorted(p.name for p in Path(cache).rglob("*") if p.is_file()) if Path(cache).exists() else []


def test_download_success_then_cached(server, data_dir, tmp_path, monkeypatch):
    root, url, _ = server
    for f in FILES:
        shutil.copy(data_dir / "mnist" / f, root / f)
    cache = tmp_path / "cache"
    monkeypatch.setenv("TAPEFLOW_HOME", str(cache))
    monkeypatch.delenv("TAPEFLOW_DATA_DIR", raising=False)
    (x_train, y_train), (x_test, y_test) = tp.datasets.mnist.load_data(origin=url)
    assert x_train.shape == (60000, 28, 28) and y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert cache_files(cache) == sorted(FILES)
    for f in FILES:
        assert sha(cache / "datasets" / "mnist" / f) == tp.datasets.mnist.SHA256[f]
        (root / f).unlink()  # the server no longer has them: the cache must serve
    (_, y_again), _ = tp.datasets.mnist.load_data(origin=url)
    np.testing.assert_array_equal(y_again, y_train)


def test_corrupted_download_is_rejected_and_leaves_nothing(server, data_dir, tmp_path):
    root, url, _ = server
    name = "train-labels-idx1-ubyte.gz"
    data = bytearray((data_dir / "mnist" / name).read_bytes())
    data[100] ^= 0xFF
    (root / name).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="checksum mismatch.*discarded"):
        get_file(name, f"{url}/{name}", file_hash=tp.datasets.mnist.SHA256[name], cache_dir=cache)
    assert cache_files(cache) == []


def test_cached_file_with_a_wrong_hash_is_downloaded_again(server, data_dir, tmp_path):
    root, url, _ = server
    name = "t10k-labels-idx1-ubyte.gz"
    shutil.copy(data_dir / "mnist" / name, root / name)
    cache = tmp_path / "cache"
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / name).write_bytes(b"stale")
    path = get_file(name, f"{url}/{name}", file_hash=tp.datasets.mnist.SHA256[name], cache_dir=cache)
    assert sha(path) == tp.datasets.mnist.SHA256[name]


def test_interrupted_transfer_is_an_error_and_leaves_nothing(server, data_dir, tmp_path):
    root, url, handler = server
    handler.truncate = True
    name = "train-labels-idx1-ubyte.gz"
    shutil.copy(data_dir / "mnist" / name, root / name)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="interrupted|IncompleteRead"):
        get_file(name, f"{url}/{name}", file_hash=tp.datasets.mnist.SHA256[name], cache_dir=cache)
    assert cache_files(cache) == []
    # Without a hash, a short transfer must still be caught (by Content-Length).
    with pytest.raises(DownloadError, match="interrupted|IncompleteRead"):
        get_file(name, f"{url}/{name}", cache_dir=cache)
    assert cache_files(cache) == []


def test_no_server_gives_an_offline_error_saying_where_to_put_the_files(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TAPEFLOW_DATA_DIR", raising=False)
    with pytest.raises(DownloadError) as info:
        tp.datasets.fashion_mnist.load_data(origin=f"http://127.0.0.1:{port}")
    message = str(info.value)
    assert "not available offline" in message and "Connection refused" in message
    assert str(tmp_path / "cache" / "datasets" / "fashion-mnist") in message
    assert "TAPEFLOW_DATA_DIR" in message
    assert cache_files(tmp_path / "cache") == []


def test_http_404_lists_every_mirror(server, tmp_path):
    _, url, _ = server
    with pytest.raises(DownloadError, match=r"(?s)every download attempt failed.*a/x.*b/x"):
        get_file("x", [f"{url}/a/x", f"{url}/b/x"], cache_dir=tmp_path)


def test_corrupt_local_idx_file_names_the_file(tmp_path):
    for f in FILES:
        (tmp_path / f).write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: not a readable gzip file"):
        tp.datasets.mnist.load_data(path=tmp_path)
