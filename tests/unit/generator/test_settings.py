import json

import pytest
from sorami_generator.batching import BatchLimits
from sorami_generator.settings import BUILTIN_MODELS, GeneratorSettings
from sorami_shared.events import Kind

REAL = {
    "sd-turbo": {
        "source": "stabilityai/sd-turbo",
        "kind": "image",
        "defaults": {"guidance_scale": 0.0},
        "max_steps": 8,
    }
}


def test_defaults(monkeypatch):
    s = GeneratorSettings()
    assert s.prefetch is None and s.device == "auto" and s.dtype == "auto"  # None: 2 x max_batch+4
    assert s.max_batch is s.max_batch_images is s.batch_window_ms is None  # None: per device
    assert str(s.model_cache_dir) == ".data/models" and s.progress_min_interval_s == 0.25
    assert set(s.registry) == set(BUILTIN_MODELS)


def test_models_from_json_env_are_added_to_the_builtins(monkeypatch):
    monkeypatch.setenv("SORAMI_GENERATOR_MODELS", json.dumps(REAL))
    monkeypatch.setenv("SORAMI_GENERATOR_PREFETCH", "2")
    s = GeneratorSettings()
    assert s.prefetch == 2
    assert s.registry["sd-turbo"].source == "stabilityai/sd-turbo"
    assert s.registry["sd-turbo"].kind == Kind.IMAGE and s.registry["sd-turbo"].pipeline == "auto"
    assert "tiny-image" in s.registry


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_models_from_a_file(monkeypatch, tmp_path, suffix):
    import yaml

    path = tmp_path / f"models{suffix}"
    path.write_text(json.dumps(REAL) if suffix == ".json" else yaml.safe_dump({"models": REAL}))
    monkeypatch.setenv("SORAMI_GENERATOR_MODELS_FILE", str(path))
    monkeypatch.setenv("SORAMI_GENERATOR_PRELOAD_MODELS", '["sd-turbo"]')
    s = GeneratorSettings()
    assert s.registry["sd-turbo"].max_steps == 8 and s.preload_models == ["sd-turbo"]


def test_preloading_an_unknown_model_is_a_configuration_error():
    with pytest.raises(ValueError, match="unknown models"):
        GeneratorSettings(preload_models=["nope"])


def test_batch_limits_default_per_device_and_settings_win(monkeypatch):
    cpu = BatchLimits.resolve(GeneratorSettings(), cuda=False)
    cuda = BatchLimits.resolve(GeneratorSettings(), cuda=True)
    assert (cpu.max_batch, cpu.max_batch_images, cpu.window_s) == (8, 32, 0.02)
    assert (cuda.max_batch, cuda.max_batch_images, cuda.window_s) == (64, 64, 0.005)
    monkeypatch.setenv("SORAMI_GENERATOR_MAX_BATCH", "3")
    monkeypatch.setenv("SORAMI_GENERATOR_BATCH_WINDOW_MS", "0")
    mine = BatchLimits.resolve(GeneratorSettings(), cuda=True)
    assert (mine.max_batch, mine.max_batch_images, mine.window_s) == (3, 64, 0.0)


def test_a_model_entry_can_ask_for_compile_and_its_own_batch_cap():
    s = GeneratorSettings(
        models={"big": {**REAL["sd-turbo"], "compile": True, "max_batch_images": 4}}
    )
    assert s.registry["big"].compile and s.registry["big"].max_batch_images == 4
    assert not s.registry["tiny-image"].compile


def test_torch_threads_sets_the_cpu_intra_op_threads_once_and_none_leaves_them(monkeypatch):
    import torch
    from pydantic import ValidationError
    from sorami_generator.devices import limit_cpu_threads

    monkeypatch.setenv("SORAMI_GENERATOR_TORCH_THREADS", "1")
    assert GeneratorSettings().torch_threads == 1
    monkeypatch.setenv("SORAMI_GENERATOR_TORCH_THREADS", "0")
    with pytest.raises(ValidationError, match="torch_threads"):
        GeneratorSettings()
    assert GeneratorSettings.model_fields["torch_threads"].default is None  # torch's own
    before = torch.get_num_threads()
    try:
        limit_cpu_threads(1)
        assert torch.get_num_threads() == 1
        limit_cpu_threads(None)
        assert torch.get_num_threads() == 1
        limit_cpu_threads(2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
