import json

import pytest
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
    assert s.prefetch == 1 and s.device == "auto" and s.dtype == "auto"
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
