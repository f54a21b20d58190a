import hashlib
import shutil

import pytest

from leukutils import config
from leukutils.cli import main
from leukutils.data import registry


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A registered toy dataset whose 'upstream' is a local mirror folder of three files."""
    mirror = tmp_path / "mirror"
    source = mirror / "toy"
    (source / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/c d.txt": b"gamma"}
    lines = []
    for rel, data in files.items():
        (source / rel).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  ./{rel}")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "toy.sha256").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(registry, "MANIFEST_DIR", manifests)
    toy = registry.Dataset(name="toy", title="toy", folder="toy", layout="a.txt, sub/*.txt", reader="none",
                           licence="none", citation="none", base_url="https://invalid.example/", manifest="toy.sha256")
    monkeypatch.setitem(registry.DATASETS, "toy", toy)
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(config.MIRROR_ENV, raising=False)
    return mirror


def test_manifest_parsing_drops_dot_prefix(toy):
    assert set(registry.get("toy").hashes()) == {"a.txt", "sub/b.txt", "sub/c d.txt"}


def test_fetch_from_mirror_verifies_and_renames(toy, tmp_path):
    assert registry.locate("toy") is None
    root = registry.fetch("toy", mirror=toy, progress=False)
    assert root == tmp_path / "cache" / "toy" and (root / "sub" / "c d.txt").read_bytes() == b"gamma"
    assert not (tmp_path / "cache" / "toy.partial").exists()
    assert registry.locate("toy") == root


@pytest.mark.slow  # pooch waits between its retries
def test_corrupt_mirror_file_is_an_error_naming_it_and_nothing_is_put_in_place(toy, tmp_path):
    (toy / "toy" / "sub" / "b.txt").write_bytes(b"bett")
    with pytest.raises(registry.DatasetError, match="sub/b.txt"):
        registry.fetch("toy", mirror=toy, progress=False)
    assert not (tmp_path / "cache" / "toy").exists()
    # resuming after the mirror is repaired keeps what was verified and completes
    (toy / "toy" / "sub" / "b.txt").write_bytes(b"beta")
    assert registry.fetch("toy", mirror=toy, progress=False).is_dir()


def test_verify_names_missing_and_corrupt_files(toy):
    registry.verify("toy", root=toy / "toy")
    (toy / "toy" / "a.txt").write_bytes(b"alphA")
    (toy / "toy" / "sub" / "c d.txt").unlink()
    with pytest.raises(registry.DatasetError) as error:
        registry.verify("toy", root=toy / "toy")
    assert "checksum mismatch" in str(error.value) and "a.txt" in str(error.value)
    assert "missing" in str(error.value) and "c d.txt" in str(error.value)


@pytest.mark.slow  # pooch waits between its retries
def test_network_failure_is_a_clear_error(toy):
    with pytest.raises(registry.DatasetError, match="could not get"):
        registry.fetch("toy", progress=False)


def test_manual_dataset_says_where_to_get_it():
    with pytest.raises(registry.DatasetError, match="TCIA|Cancer Imaging Archive"):
        registry.fetch("cnmc")
    with pytest.raises(registry.DatasetError, match="unknown dataset"):
        registry.get("nope")


def test_registered_datasets_are_complete():
    for dataset in registry.DATASETS.values():
        assert dataset.licence and dataset.citation and dataset.layout
        assert dataset.downloadable or dataset.manual, dataset.name
        if dataset.manifest:
            assert len(dataset.hashes()) > 100


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["bccd", "jtsc", "aria"])
def test_real_mirror_verifies(mirror, name):
    assert registry.verify(name, mirror=mirror).is_dir()


@pytest.mark.realdata
def test_cli_verify_fails_on_one_corrupted_byte(mirror, tmp_path, capsys):
    assert main(["data", "verify", "bccd", "--mirror", str(mirror), "--quiet"]) == 0
    copy = tmp_path / "bccd"
    shutil.copytree(mirror / "bccd", copy)
    victim = copy / "BCCD" / "JPEGImages" / "BloodImage_00007.jpg"
    data = bytearray(victim.read_bytes())
    data[1000] ^= 0xFF
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    assert main(["data", "verify", "bccd", "--root", str(copy), "--quiet"]) == 1
    assert "BloodImage_00007.jpg" in capsys.readouterr().err


def test_cli_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "bccd" in out and "cnmc" in out and "manual" in out
