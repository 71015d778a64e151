"""IMDB, Reuters, Boston and California housing, CIFAR-10/100: small fixtures in the published formats, read
from a folder and downloaded from a local HTTP server (checksums verified, cached), with Keras's shuffling and
index conventions, and files that try to run code refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile

import numpy as np
import pytest

import tapeflow as tp
from tapeflow.datasets import DownloadError
from tapeflow.datasets._safe_pickle import UnsafePickleError
from tests.data.test_datasets import cache_files, server  # noqa: F401 - the local HTTP server fixture

D = tp.datasets


def _objects(seqs):
    out = np.empty(len(seqs), dtype=object)
    out[:] = [list(s) for s in seqs]
    return out


def _imdb(folder):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 30, rng.integers(3, 12)).tolist() for _ in range(20)]
    np.savez(folder / "imdb.npz", x_train=_objects(seqs[:12]), y_train=np.arange(12) % 2,
             x_test=_objects(seqs[12:]), y_test=np.arange(8) % 2)
    return seqs


def _reuters(folder):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(1, 40, rng.integers(2, 15)).tolist() for _ in range(25)]
    np.savez(folder / "reuters.npz", x=_objects(seqs), y=np.arange(25) % 46)
    return seqs


def _table(folder, name, n, k):
    x = np.arange(n * k, dtype=np.float64).reshape(n, k)
    y = np.arange(n, dtype=np.float32) * 10
    np.savez(folder / name, x=x, y=y)
    return x, y


def _cifar(folder, kind):
    rng = np.random.default_rng(2)
    members = {}
    if kind == "cifar10":
        names = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
        root, keys = "cifar-10-batches-py", [b"labels"]
    else:
        names, root, keys = ["train", "test"], "cifar-100-python", [b"fine_labels", b"coarse_labels"]
    for name in names:
        n = 4 if name != "train" else 10
        batch = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8)}
        for key in keys:
            batch[key] = rng.integers(0, 100 if key == b"fine_labels" else 10, n).tolist()
        members[f"{root}/{name}"] = pickle.dumps(batch, protocol=2)
    archive = folder / ("cifar-10-python.tar.gz" if kind == "cifar10" else "cifar-100-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {name.rsplit("/", 1)[-1]: pickle.loads(data, encoding="bytes") for name, data in members.items()}


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_imdb_keras_conventions(tmp_path):
    seqs = _imdb(tmp_path)
    (x_train, y_train), (x_test, y_test) = D.imdb.load_data(path=tmp_path)
    rng = np.random.RandomState(113)
    train_order = np.arange(12)
    rng.shuffle(train_order)
    test_order = np.arange(8)
    rng.shuffle(test_order)
    assert len(x_train) == 12 and len(x_test) == 8 and x_train.dtype == object
    np.testing.assert_array_equal(y_train, (np.arange(12) % 2)[train_order])
    largest = max(w + 3 for s in seqs for w in s)  # Keras's default num_words: the largest index present
    first = [1] + [w + 3 if w + 3 < largest else 2 for w in seqs[train_order[0]]]
    assert x_train[0] == first
    assert x_test[0][0] == 1
    (small, _), _ = D.imdb.load_data(path=tmp_path, num_words=10, skip_top=4)
    assert all(w == 2 or 4 <= w < 10 for s in small for w in s)
    (short, labels), _ = D.imdb.load_data(path=tmp_path, maxlen=8)
    assert all(len(s) <= 8 for s in short) and len(short) == len(labels) < 12
    (no_start, _), _ = D.imdb.load_data(path=tmp_path, start_char=None, oov_char=None, index_from=0,
                                        num_words=20)
    assert all(w < 20 for s in no_start for w in s)
    with pytest.raises(ValueError, match="no sequence is at most maxlen=1"):
        D.imdb.load_data(path=tmp_path, maxlen=1)


def test_reuters_split_and_seed(tmp_path):
    _reuters(tmp_path)
    (x_train, y_train), (x_test, y_test) = D.reuters.load_data(path=tmp_path, test_split=0.2)
    assert len(x_train) == 20 and len(x_test) == 5
    order = np.arange(25)
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), (np.arange(25) % 46)[order])
    (other, _), _ = D.reuters.load_data(path=tmp_path, seed=1)
    assert [list(s) for s in other] != [list(s) for s in x_train]


def test_boston_and_california_housing(tmp_path):
    x, y = _table(tmp_path, "boston_housing.npz", 20, 13)
    (x_train, y_train), (x_test, y_test) = D.boston_housing.load_data(path=tmp_path)
    assert x_train.shape == (16, 13) and x_test.shape == (4, 13)
    order = np.arange(20)
    np.random.RandomState(113).shuffle(order)
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x[order])
    np.testing.assert_array_equal(y_train, y[order][:16])
    _table(tmp_path, "california_housing.npz", 700, 8)
    (big, _), (big_test, _) = D.california_housing.load_data(path=tmp_path)
    assert big.shape == (560, 8) and big_test.shape == (140, 8)
    (small, _), (small_test, _) = D.california_housing.load_data("small", path=tmp_path, test_split=0.5)
    assert small.shape == (300, 8) and small_test.shape == (300, 8) and small.max() < 600 * 8
    with pytest.raises(ValueError, match="`version` must be 'small' or 'large'"):
        D.california_housing.load_data(version="medium", path=tmp_path)
    with pytest.raises(ValueError, match=r"`test_split` must be in \[0, 1\)"):
        D.boston_housing.load_data(path=tmp_path, test_split=1.0)


def test_cifar10_and_cifar100_read_the_pickled_batches(tmp_path):
    batches = _cifar(tmp_path, "cifar10")
    (x_train, y_train), (x_test, y_test) = D.cifar10.load_data(path=tmp_path)
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8 and y_train.shape == (20, 1)
    assert y_train.dtype == np.uint8 and x_test.shape == (4, 32, 32, 3)
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_array_equal(x_train[0, :, :, 0].ravel(), first[:1024])  # the red plane, row by row
    np.testing.assert_array_equal(x_train[0, 0, 0], first[[0, 1024, 2048]])
    np.testing.assert_array_equal(y_test.ravel(), batches["test_batch"][b"labels"])
    batches = _cifar(tmp_path, "cifar100")
    (x_train, fine), _ = D.cifar100.load_data(path=tmp_path)
    (_, coarse), _ = D.cifar100.load_data(label_mode="coarse", path=tmp_path)
    assert x_train.shape == (10, 32, 32, 3) and fine.shape == (10, 1) and fine.dtype == np.int64
    np.testing.assert_array_equal(fine.ravel(), batches["train"][b"fine_labels"])
    np.testing.assert_array_equal(coarse.ravel(), batches["train"][b"coarse_labels"])
    with pytest.raises(ValueError, match="`label_mode` must be 'fine' or 'coarse'"):
        D.cifar100.load_data(label_mode="medium", path=tmp_path)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_data_file_that_tries_to_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload()
    np.savez(tmp_path / "imdb.npz", x_train=evil, y_train=np.zeros(1), x_test=evil, y_test=np.zeros(1))
    with pytest.raises(UnsafePickleError, match=r"names (posix|os)\.system.*Refused; nothing was run"):
        D.imdb.load_data(path=tmp_path)
    batch = pickle.dumps({b"data": _Payload(), b"labels": [0]})
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(batch)
        tar.addfile(info, io.BytesIO(batch))
    with pytest.raises(UnsafePickleError):
        D.cifar10.load_data(path=tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("module, make", [
    (D.imdb, _imdb), (D.reuters, _reuters),
    (D.boston_housing, lambda f: _table(f, "boston_housing.npz", 20, 13)),
    (D.cifar10, lambda f: _cifar(f, "cifar10")),
])
def test_download_is_verified_and_cached(module, make, server, tmp_path, monkeypatch):  # noqa: F811
    root, url, _ = server
    make(root)
    (name,) = module.SHA256
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TAPEFLOW_DATA_DIR", raising=False)
    # the published checksum does not match the fixture: refused, nothing kept
    with pytest.raises(DownloadError, match="checksum mismatch"):
        module.load_data(origin=url)
    assert cache_files(tmp_path / "cache") == []
    monkeypatch.setattr(module, "SHA256", {name: _sha(root / name)})
    first = module.load_data(origin=url)
    assert cache_files(tmp_path / "cache") == [name]
    (root / name).unlink()  # the cache serves from now on
    again = module.load_data(origin=url)
    np.testing.assert_array_equal(np.asarray(first[1][1]), np.asarray(again[1][1]))


def test_word_index_is_md5_verified(server, tmp_path, monkeypatch):  # noqa: F811
    root, url, _ = server
    text = json.dumps({"the": 1, "movie": 2})
    (root / "imdb_word_index.json").write_text(text)
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tp.datasets._sequences, "KERAS_DATASETS", url + "/")
    with pytest.raises(DownloadError, match="expected md5"):
        D.imdb.get_word_index()
    monkeypatch.setattr(D.imdb, "WORD_INDEX_MD5", hashlib.md5(text.encode()).hexdigest())
    assert D.imdb.get_word_index() == {"the": 1, "movie": 2}


def test_offline_error_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPEFLOW_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TAPEFLOW_DATA_DIR", raising=False)
    with pytest.raises(DownloadError, match=r"(?s)not available offline.*cifar-100-python.tar.gz"):
        D.cifar100.load_data(origin="http://127.0.0.1:9")
    with pytest.raises(FileNotFoundError, match="lacks reuters.npz"):
        D.reuters.load_data(path=tmp_path)
