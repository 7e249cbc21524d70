import pytest
from sorami_shared.storage import ObjectNotFound, make_storage
from sorami_shared.storage.local import InvalidKey, LocalStorage, validate_key
from sorami_shared.storage.settings import StorageSettings


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(StorageSettings(storage_local_dir=tmp_path / "media"))


def test_make_storage_builds_the_local_backend_by_default(tmp_path):
    assert isinstance(make_storage(StorageSettings(storage_local_dir=tmp_path)), LocalStorage)


async def test_put_get_exists_overwrite_and_no_temp_files_left(storage):
    await storage.ensure_ready()
    key = "image/0f8e/0.png"
    assert not await storage.exists(key)
    await storage.put(key, b"one", "image/png")
    await storage.put(key, b"two", "image/png")  # a redelivered job overwrites
    assert await storage.get(key) == b"two" and await storage.exists(key)
    assert [p.name for p in (storage.root / "image" / "0f8e").iterdir()] == ["0.png"]
    with pytest.raises(ObjectNotFound):
        await storage.get("image/0f8e/1.png")
    assert await storage.presigned_url(key, 60) is None


async def test_a_killed_writers_temporary_file_goes_with_the_next_write_of_its_key(storage):
    """A SIGKILL between the temporary file and the rename leaves ``.0.png.<random>.tmp``; the
    redelivered job's write of the same key removes it once stale, not a fresh one (that may be
    a concurrent writer's), nor another key's."""
    import os
    import time

    from sorami_shared.storage.local import STALE_TMP_S

    folder = storage.root / "image" / "0f8e"
    folder.mkdir(parents=True)
    old = time.time() - STALE_TMP_S - 1
    crashed = folder / ".0.png.k1ll3d.tmp"
    other = folder / ".1.png.k1ll3d.tmp"
    for path in (crashed, other):
        path.write_bytes(b"half a fi")
        os.utime(path, (old, old))
    fresh = folder / ".0.png.wr1t1ng.tmp"
    fresh.write_bytes(b"in progr")
    await storage.put("image/0f8e/0.png", b"whole", "image/png")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["0.png", other.name, fresh.name])


async def test_delete_prefix_counts_what_it_deleted(storage):
    for key in ("video/j1/0.mp4", "video/j1/0.png", "video/j2/0.mp4"):
        await storage.put(key, b"x", "application/octet-stream")
    assert await storage.delete_prefix("video/j1/") == 2
    assert not await storage.exists("video/j1/0.mp4") and await storage.exists("video/j2/0.mp4")
    assert await storage.delete_prefix("video/j1/") == 0
    assert await storage.delete_prefix("video/j2") == 1


@pytest.mark.parametrize(
    "key",
    [
        "/etc/passwd",
        "../secret",
        "image/../../x",
        "image/./x",
        "image//x",
        "",
        "image\\..\\x",
        "a/\x00b",
        "image/.hidden",
    ],
)
async def test_keys_that_could_escape_the_root_are_refused(storage, key):
    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        await storage.put(key, b"x", "text/plain")
    with pytest.raises(InvalidKey):
        await storage.get(key)


async def test_a_symlink_out_of_the_root_is_refused(storage, tmp_path):
    storage.root.mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (storage.root / "image").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidKey):
        await storage.put("image/x.png", b"x", "image/png")
    assert not (tmp_path / "outside" / "x.png").exists()
